#!/usr/bin/env python3
"""Compares the hit path of two proxy binaries, side by side on one Redis:
one hot RUC and 10,000 RUCs at 32 connections, wrk with bench/rucs.lua,
the two binaries alternating in each round (who goes first alternates too),
so that a refactor can be checked against the code before it.

    python3 bench/ab.py OLD_PROXY [NEW_PROXY]     # NEW defaults to target/release/proxy

BENCH_ROUNDS (6) and BENCH_DURATION (10 s per run) as in run.py. Needs the
release stub-scraper, redis-server and wrk (`make bench` builds and installs
them). Everything it starts is stopped, and its directory removed, at the
end.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("BENCH_BIG_KEYS", "10000")
import run as bench  # noqa: E402 (the settings above must come first)

SCENARIOS = (("hot", 1), ("10k", 10_000))


def start(argv, env=None):
    return subprocess.Popen(argv, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def requests_per_second(port, rucs_file):
    argv = ["wrk", "-t1", "-c32", f"-d{bench.DURATION}s", "-s", bench.LUA, f"http://127.0.0.1:{port}", "--",
            rucs_file]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    binaries = {"old": sys.argv[1], "new": sys.argv[2] if len(sys.argv) == 3 else
                os.path.join(bench.RELEASE, "proxy")}
    work = tempfile.mkdtemp(prefix="ruc-ab-")
    processes = []
    try:
        redis_port, stub_port = bench.free_port(), bench.free_port()
        processes.append(start(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no", "--dir", work]))
        processes.append(start([os.path.join(bench.RELEASE, "stub-scraper")],
                               {"STUB_LISTEN": f"127.0.0.1:{stub_port}", "RUST_LOG": "warn"}))
        bench.wait_until(lambda: bench.http(f"http://127.0.0.1:{stub_port}/__stub/lookups")[0] == 200, "the stub")
        rucs = [bench.valid_ruc("20", 10_000_000 + n) for n in range(10_000)]
        bench.wait_until(lambda: subprocess.run(["redis-cli", "-p", str(redis_port), "PING"],
                                                capture_output=True).returncode == 0, "redis-server")
        bench.pipe_records(["-p", str(redis_port)], rucs)
        lists = {}
        for name, count in SCENARIOS:
            lists[name] = os.path.join(work, f"{name}.txt")
            with open(lists[name], "w") as f:
                f.write("\n".join(rucs[:count]) + "\n")
        yaml = os.path.join(work, "proxy.yaml")
        with open(os.path.join(bench.ROOT, "conf", "proxy.yaml")) as source, open(yaml, "w") as target:
            target.write(re.sub(r"(?m)^threads: \d+$", f"threads: {bench.WORKERS}", source.read()))
        ports = {}
        for name, binary in binaries.items():
            ports[name] = bench.free_port()
            processes.append(start([binary, "-c", yaml], {
                "PROXY_LISTEN": f"127.0.0.1:{ports[name]}", "METRICS_LISTEN": f"127.0.0.1:{bench.free_port()}",
                "REDIS_URL": f"redis://127.0.0.1:{redis_port}", "SCRAPER_URL": f"http://127.0.0.1:{stub_port}",
                "RUST_LOG": "warn"}))
            bench.wait_until(lambda: bench.http(f"http://127.0.0.1:{ports[name]}/health")[0] == 200, name)
        runs = {}
        for round_ in range(int(os.environ.get("BENCH_ROUNDS", "6"))):
            for scenario, _ in SCENARIOS:
                for name in ("old", "new") if round_ % 2 == 0 else ("new", "old"):
                    rps = requests_per_second(ports[name], lists[scenario])
                    runs.setdefault((scenario, name), []).append(rps)
                    bench.log(f"round {round_ + 1} {scenario} {name}: {rps:,.0f} req/s")
        print("| scenario (32 conn.) | old: median req/s [range] | new: median req/s [range] | new / old |")
        print("|---|---|---|---|")
        for scenario, _ in SCENARIOS:
            old, new = sorted(runs[(scenario, "old")]), sorted(runs[(scenario, "new")])
            median = lambda values: values[len(values) // 2]  # noqa: E731
            print(f"| {scenario} | {median(old):,.0f} [{old[0]:,.0f}–{old[-1]:,.0f}] | "
                  f"{median(new):,.0f} [{new[0]:,.0f}–{new[-1]:,.0f}] | {median(new) / median(old):.2f} |")
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=10)
        time.sleep(0.1)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
