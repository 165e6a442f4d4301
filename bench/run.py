#!/usr/bin/env python3
"""The benchmark (`make bench`): our proxy next to nginx's proxy_cache, in one
run on this machine, then the scraper against the SUNAT replica.

Starts on loopback, each in its own process group: redis-server, the proxy
(release build, conf/proxy.yaml), a stub scraper (a ~2 KB record after a
configurable delay, counting lookups) and nginx with an equivalent
proxy_cache (+ proxy_cache_lock) in front of the same stub. Load comes from
wrk (1 thread). Scenarios, proxy and nginx alternating, BENCH_ROUNDS times:

  hot      hits on one RUC at 1, 32 and 256 connections
  10k/1M   hits spread uniformly over 10,000 and 1,000,000 cached RUCs
  Zipf     hits over the 1,000,000 RUCs, Zipf-distributed (exponent 1.0)
  2 w.     hot (1 and 32 connections) and 10k again with 2 proxy threads
           against 2 nginx workers
  misses   500 requests over 50 new RUCs, 10 at once per RUC, 1 s stub
  memory   the proxy's idle RSS, and its peak RSS over a 60 s hit run over the
           1M RUCs with L1_CAPACITY 10,000 (the default) and 100,000; and what
           1,000 connections each holding an unfinished 32,000-byte head cost
  scraper  bench/scraper.py (browser, http and auto modes, 1, 2 and 4 sessions)

Prints a Markdown report with each target beside its measurement, writes it
to BENCH_REPORT (default target/bench/report.md) and stops all it started.
Both servers get BENCH_WORKERS (default 1) workers: nginx's
worker_processes and the proxy's `threads` (conf/proxy.yaml otherwise); a
second pair runs with 2 for the "2 w." scenarios.
Settings: BENCH_DURATION (s per wrk run, 10), BENCH_ROUNDS (3),
BENCH_BIG_KEYS (1000000), BENCH_NGINX_WARM_SECONDS (300),
BENCH_MEMORY_SECONDS (60), BENCH_SCRAPER_SECONDS (30; 0 skips the scraper).
"""

import asyncio
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import scraper as scraper_bench

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASE = os.path.join(ROOT, "target", "release")
LUA = os.path.join(ROOT, "bench", "rucs.lua")
RECORD = open(os.path.join(ROOT, "bench", "record.json"), encoding="utf-8").read().strip()
# How long the proxy keeps a record with its defaults: 7 days fresh, then 7
# days stale (CACHE_TTL_SECONDS + STALE_IF_ERROR_SECONDS).
TTL = 2 * 604800

WORKERS = int(os.environ.get("BENCH_WORKERS", "1"))
# L1_MAX_BYTES per L1_CAPACITY entry: the default's share (32 MiB / 10,000),
# so that every L1 size is bounded by its count, as with the defaults.
L1_BYTES_PER_RECORD = (32 << 20) // 10_000
DURATION = int(os.environ.get("BENCH_DURATION", "10"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
BIG = int(os.environ.get("BENCH_BIG_KEYS", "1000000"))
SMALL = 10_000
NGINX_WARM_SECONDS = int(os.environ.get("BENCH_NGINX_WARM_SECONDS", "300"))
MEMORY_SECONDS = int(os.environ.get("BENCH_MEMORY_SECONDS", "60"))
SCRAPER_SECONDS = float(os.environ.get("BENCH_SCRAPER_SECONDS", "30"))
REPORT = os.environ.get("BENCH_REPORT", os.path.join(ROOT, "target", "bench", "report.md"))
MISS_RUCS, MISS_PER_RUC, MISS_DELAY_MS = 50, 10, 1000
# (name, connections, RUC list, wrk script mode, server suffix: "" for the
# BENCH_WORKERS pair, "-2" for the pair with 2 threads/workers).
SCENARIOS = [("hot, 1 conn.", 1, "hot", "uniform", ""), ("hot, 32 conn.", 32, "hot", "uniform", ""),
             ("hot, 256 conn.", 256, "hot", "uniform", ""), ("10k RUCs, 32 conn.", 32, "10k", "uniform", ""),
             ("1M RUCs, 32 conn.", 32, "1M", "uniform", ""), ("1M RUCs Zipf, 32 conn.", 32, "1M", "zipf", ""),
             ("hot, 1 conn., 2 w.", 1, "hot", "uniform", "-2"), ("hot, 32 conn., 2 w.", 32, "hot", "uniform", "-2"),
             ("10k RUCs, 32 conn., 2 w.", 32, "10k", "uniform", "-2")]
# Connections holding an unfinished head each, and the head's size (under
# the proxy's 32 KiB bound, so that each stays open until its deadline).
HEADS, HEAD_BYTES = 1000, 32_000


def log(message):
    print(f"bench: {message}", file=sys.stderr, flush=True)


def publish(report, path):
    """Prints the report and writes it to `path`."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(report + "\n")
    print(report)
    log(f"report written to {path}")


def valid_ruc(prefix, number):
    """`prefix` + 8 digits + SUNAT's mod-11 check digit."""
    digits = f"{prefix}{number:08d}"
    total = sum(int(d) * w for d, w in zip(digits, (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)))
    return digits + str((11 - total % 11) % 10)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Processes:
    """What the benchmark started: each in its own process group, all killed
    (with their children) and the work directory removed at the end."""

    def __init__(self):
        self.work = tempfile.mkdtemp(prefix="ruc-bench-")
        self.started = []

    def start(self, name, argv, env=None):
        log_file = open(os.path.join(self.work, f"{name}.log"), "w")
        process = subprocess.Popen(argv, env={**os.environ, **(env or {})}, stdout=log_file,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        self.started.append(process)
        return process

    def close(self):
        for process in self.started:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()
        shutil.rmtree(self.work, ignore_errors=True)


def http(url, method="GET"):
    """Status, headers (names in lower case: they are case-insensitive) and body."""
    request = urllib.request.Request(url, method=method)
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()


def wait_until(check, what, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (OSError, subprocess.CalledProcessError):
            pass
        time.sleep(0.1)
    sys.exit(f"bench: {what} did not come up within {seconds} s")


class Bench:
    def __init__(self, processes):
        self.p = processes
        self.work = processes.work
        self.redis_port, self.stub_port = free_port(), free_port()
        self.stub = f"http://127.0.0.1:{self.stub_port}"
        self.targets = {name: f"127.0.0.1:{free_port()}"
                        for name in ("proxy", "nginx", "proxy-2", "nginx-2", "proxy-l1-100k")}
        self.pids = {}
        self.lists = {}

    # -- set-up ------------------------------------------------------------

    def start_all(self):
        self.p.start("stub", [os.path.join(RELEASE, "stub-scraper")],
                     {"STUB_LISTEN": f"127.0.0.1:{self.stub_port}", "RUST_LOG": "warn"})
        self.redis = self.p.start("redis", ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1",
                               "--save", "", "--appendonly", "no", "--dir", self.work])
        wait_until(lambda: http(f"{self.stub}/__stub/lookups")[0] == 200, "the stub scraper")
        wait_until(lambda: self.redis_cli("PING") == "PONG", "redis-server")
        for name, workers, l1 in (("proxy", WORKERS, 10_000), ("proxy-2", 2, 10_000),
                                  ("proxy-l1-100k", WORKERS, 100_000)):
            self.start_proxy(name, workers, l1)
        self.start_nginx("nginx", WORKERS)
        self.start_nginx("nginx-2", 2)
        for name, target in self.targets.items():
            wait_until(lambda: http(f"http://{target}/obtener-ruc/{valid_ruc('10', 1)}")[0] == 200, name)

    def start_proxy(self, name, threads, l1_capacity):
        pingora_yaml = os.path.join(self.work, f"{name}.yaml")
        with open(os.path.join(ROOT, "conf", "proxy.yaml")) as source, open(pingora_yaml, "w") as target:
            target.write(re.sub(r"(?m)^threads: \d+$", f"threads: {threads}", source.read()))
        self.pids[name] = self.p.start(name, [os.path.join(RELEASE, "proxy"), "-c", pingora_yaml], {
            "PROXY_LISTEN": self.targets[name], "METRICS_LISTEN": f"127.0.0.1:{free_port()}",
            "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}", "SCRAPER_URL": self.stub, "RUST_LOG": "warn",
            "L1_CAPACITY": str(l1_capacity), "L1_MAX_BYTES": str(l1_capacity * L1_BYTES_PER_RECORD),
            # The stub is not SUNAT: lift the default of 2 lookups at a time,
            # which would queue 50 distinct misses of 1 s each for 25 s.
            "UPSTREAM_MAX_INFLIGHT": str(MISS_RUCS), "UPSTREAM_GLOBAL_MAX_INFLIGHT": str(MISS_RUCS)}).pid

    def start_nginx(self, name, workers):
        cache = os.path.join(self.work, f"{name}-cache")
        os.makedirs(cache)
        config = os.path.join(self.work, f"{name}.conf")
        port = self.targets[name].rsplit(":", 1)[1]
        with open(config, "w") as f:
            f.write(f"""
daemon off;
worker_processes {workers};
pid {self.work}/{name}.pid;
error_log {self.work}/{name}-error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  proxy_cache_path {cache} levels=1:2 keys_zone=ruc:256m inactive=7d use_temp_path=off;
  upstream stub {{ server 127.0.0.1:{self.stub_port}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location / {{
      proxy_pass http://stub;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_cache ruc;
      proxy_cache_key $uri;
      proxy_cache_valid 200 7d;
      proxy_cache_lock on;
      proxy_cache_lock_timeout 30s;
      add_header X-Cache $upstream_cache_status;
    }}
  }}
}}
""")
        # nginx's worker runs as an unprivileged user when started as root.
        os.chmod(self.work, 0o777)
        os.chmod(cache, 0o777)
        self.pids[name] = self.p.start(name, ["nginx", "-c", config, "-p", self.work]).pid

    def redis_cli(self, *args):
        return subprocess.run(["redis-cli", "-p", str(self.redis_port), *args], capture_output=True,
                              text=True, check=True).stdout.strip()

    def write_lists(self):
        rucs = [valid_ruc("20", 10_000_000 + n) for n in range(BIG)]
        for name, subset in (("hot", rucs[:1]), ("10k", rucs[:SMALL]), ("1M", rucs)):
            path = os.path.join(self.work, f"{name}.txt")
            with open(path, "w") as f:
                f.write("\n".join(subset) + "\n")
            self.lists[name] = path
        return rucs

    def preload_redis(self, rucs):
        """Every RUC's record, as the proxy itself would have stored it."""
        log(f"preloading {len(rucs):,} records into Redis")
        pipe_records(["-p", str(self.redis_port)], rucs)
        count = int(self.redis_cli("DBSIZE"))
        if count < len(rucs):
            sys.exit(f"bench: Redis holds {count} keys after preloading {len(rucs)}")

    def warm_nginx(self):
        """Fetches the RUC lists through nginx in order, the 10k list whole
        (also through the 2-worker nginx), then the 1M list for at most
        BENCH_NGINX_WARM_SECONDS; returns how many the first one holds."""
        self.wrk("nginx-2", 32, "10k", seconds=120, mode="sequential", stop_after=SMALL)
        before = self.lookups()
        self.wrk("nginx", 32, "10k", seconds=120, mode="sequential", stop_after=SMALL)
        self.wrk("nginx", 64, "1M", seconds=NGINX_WARM_SECONDS, mode="sequential", stop_after=BIG)
        warmed = self.lookups() - before
        log(f"nginx warmed with {warmed:,} records")
        return warmed

    def check_hits(self, ruc):
        """Both servers answer `ruc` from their cache, or the figures would
        measure something else."""
        for server, target in self.targets.items():
            headers = http(f"http://{target}/obtener-ruc/{ruc}")[1]
            if headers.get("x-cache") != "HIT":
                sys.exit(f"bench: {server} does not serve {ruc} as a hit: {headers}")

    # -- measuring ---------------------------------------------------------

    def lookups(self):
        return int(http(f"{self.stub}/__stub/lookups")[2])

    def wrk(self, server, connections, rucs, seconds=DURATION, mode="uniform", stop_after=None):
        argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", LUA,
                f"http://{self.targets[server]}", "--", self.lists[rucs], mode]
        if stop_after is None:
            server_pid = self.pids[server]
            before = (cpu_seconds(server_pid), cpu_seconds(self.redis.pid), children_cpu_seconds())
            result = parse_wrk(subprocess.run(argv, capture_output=True, text=True, check=True).stdout)
            after = (cpu_seconds(server_pid), cpu_seconds(self.redis.pid), children_cpu_seconds())
            result["cpu"] = [(b - a) / seconds for a, b in zip(before, after)]
            return result
        # Warming: stop wrk once the stub has served `stop_after` new lookups.
        before = self.lookups()
        run = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
        while run.poll() is None and self.lookups() - before < stop_after:
            time.sleep(0.5)
        run.terminate()
        run.wait()
        return None

    def hits(self, scenarios):
        """Each scenario, proxy and nginx alternating (who goes first
        alternates too), BENCH_ROUNDS times."""
        runs = {}
        for round_ in range(ROUNDS):
            for name, connections, rucs, mode, suffix in scenarios:
                order = ("proxy", "nginx") if round_ % 2 == 0 else ("nginx", "proxy")
                for server in order:
                    before = self.lookups()
                    result = self.wrk(server + suffix, connections, rucs, mode=mode)
                    result["upstream"] = self.lookups() - before
                    runs.setdefault((name, server), []).append(result)
                    log(f"round {round_ + 1} {name} {server}: {result['rps']:,.0f} req/s")
        return runs

    def misses(self, server, first_number):
        """500 requests over 50 RUCs never asked before, 10 at once per RUC,
        against a stub that takes 1 s: every request is sent at once."""
        rucs = [valid_ruc("10", first_number + n) for n in range(MISS_RUCS)]
        http(f"{self.stub}/__stub/delay?ms={MISS_DELAY_MS}", "PUT")
        before = self.lookups()
        results = asyncio.run(miss_burst(self.targets[server], rucs * MISS_PER_RUC))
        upstream = self.lookups() - before
        http(f"{self.stub}/__stub/delay?ms=0", "PUT")
        latencies = [latency for ok, latency in results if ok]
        return {"upstream": upstream, "errors": sum(1 for ok, _ in results if not ok),
                "p50": percentile(latencies, 0.5) * 1000, "p99": percentile(latencies, 0.99) * 1000}

    def unfinished_heads(self, server):
        """The RSS of `server` before and while HEADS connections each hold
        an unfinished head of HEAD_BYTES bytes (settled: unchanged for 1 s)."""
        host, port = self.targets[server].split(":")
        before = rss_bytes(self.pids[server])
        head = f"GET /obtener-ruc/{valid_ruc('10', 1)} HTTP/1.1\r\nHost: bench\r\nX-Filler: ".encode()
        head += b"y" * (HEAD_BYTES - len(head))
        held = []
        try:
            for _ in range(HEADS):
                held.append(socket.create_connection((host, int(port)), timeout=10))
                held[-1].sendall(head)
            settled, last, since = 0, -1, time.monotonic()
            while time.monotonic() - since < 1:
                time.sleep(0.2)
                settled = rss_bytes(self.pids[server])
                if settled != last:
                    last, since = settled, time.monotonic()
            answered = sum(1 for s in held if readable(s))
        finally:
            for s in held:
                s.close()
        return {"before": before, "holding": settled, "answered": answered}

    def memory(self, server):
        """The peak RSS of `server` while 256 connections hit the 1M RUCs."""
        argv = ["wrk", "-t1", "-c256", f"-d{MEMORY_SECONDS}s", "-s", LUA, f"http://{self.targets[server]}",
                "--", self.lists["1M"]]
        run = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
        peak = rss_bytes(self.pids[server])
        while run.poll() is None:
            peak = max(peak, rss_bytes(self.pids[server]))
            time.sleep(0.2)
        return peak


def pipe_records(cli, rucs, page=None, body=None):
    """SET sunat:ruc:<ruc> <record> EX 14 days for every RUC, through
    `redis-cli <cli> --pipe`; with `page` (a kind), SET
    sunat:ruc:<ruc>:<page> to `body(ruc)` instead."""
    pipe = subprocess.Popen(["redis-cli", *cli, "--pipe"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    ttl = str(TTL).encode()
    suffix = f":{page}" if page else ""
    body = body or (lambda ruc: RECORD.replace("00000000000", ruc))
    for start in range(0, len(rucs), 10_000):
        chunk = []
        for ruc in rucs[start:start + 10_000]:
            key, value = f"sunat:ruc:{ruc}{suffix}".encode(), body(ruc).encode()
            chunk.append(b"*5\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n$2\r\nEX\r\n$%d\r\n%s\r\n"
                         % (len(key), key, len(value), value, len(ttl), ttl))
        pipe.stdin.write(b"".join(chunk))
    pipe.stdin.close()
    pipe.wait()


async def miss_burst(target, rucs):
    host, port = target.split(":")

    async def one(ruc):
        started = time.perf_counter()
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), 30)
            writer.write(f"GET /obtener-ruc/{ruc} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode())
            answer = await asyncio.wait_for(reader.read(), 30)
            writer.close()
            ok = answer.startswith(b"HTTP/1.1 200") and f'"ruc":"{ruc}"'.encode() in answer
        except (OSError, asyncio.TimeoutError):
            ok = False
        return ok, time.perf_counter() - started

    return await asyncio.gather(*(one(ruc) for ruc in rucs))


def readable(sock):
    """Whether the server answered (or closed) `sock` already."""
    sock.setblocking(False)
    try:
        return sock.recv(1, socket.MSG_PEEK) is not None
    except BlockingIOError:
        return False
    except OSError:
        return True


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def cpu_seconds(pid):
    """CPU time of a process and its descendants (nginx's master and worker)."""
    total = 0
    for each in [pid] + scraper_bench.descendants(pid):
        try:
            with open(f"/proc/{each}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError):
            continue
    return total / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def to_ms(text):
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]


def parse_wrk(out):
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50": to_ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)),
            "p99": to_ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)),
            "errors": errors + (int(non_2xx.group(1)) if non_2xx else 0)}


def percentile(values, fraction):
    ordered = sorted(values) or [float("nan")]
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


# -- the report ----------------------------------------------------------------

def median_of(runs, field):
    return statistics.median(run[field] for run in runs)


def hit_table(runs, scenarios):
    lines = ["| scenario | server | requests/s (median) | p50 | p99 | errors | upstream requests | ratio to nginx "
             "| CPU cores: server / Redis / wrk |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, *_ in scenarios:
        ratios = [p["rps"] / n["rps"] for p, n in zip(runs[(name, "proxy")], runs[(name, "nginx")])]
        for server in ("proxy", "nginx"):
            r = runs[(name, server)]
            ratio = f"{statistics.median(ratios):.2f} [{min(ratios):.2f}–{max(ratios):.2f}]" if server == "proxy" else ""
            lines.append(f"| {name} | {server} | {median_of(r, 'rps'):,.0f} | {median_of(r, 'p50'):.2f} ms "
                         f"| {median_of(r, 'p99'):.2f} ms | {sum(x['errors'] for x in r)} "
                         f"| {sum(x['upstream'] for x in r):,} | {ratio} | {cpu_cores(r)} |")
    return "\n".join(lines)


def cpu_cores(runs):
    """Median CPU use of the server, Redis and wrk, in cores."""
    return " / ".join(f"{statistics.median(run['cpu'][i] for run in runs):.2f}" for i in range(3))


def targets_table(runs, misses, memory):
    proxy32, nginx32 = runs[("hot, 32 conn.", "proxy")], runs[("hot, 32 conn.", "nginx")]
    p99, nginx_p99 = median_of(proxy32, "p99"), median_of(nginx32, "p99")
    miss = misses["proxy"]
    rows = []
    for name, *_ in SCENARIOS:
        ratio = statistics.median(p["rps"] / n["rps"] for p, n in zip(runs[(name, "proxy")], runs[(name, "nginx")]))
        rows.append((f"{name}: requests/s ≥ 1.0× nginx", f"{ratio:.2f}×", ratio >= 1.0))
    rows += [
        ("hits at 32 conn.: p99 ≤ nginx's", f"{p99:.2f} ms against {nginx_p99:.2f} ms", p99 <= nginx_p99),
        (f"misses: {MISS_RUCS} upstream requests, no errors", f"{miss['upstream']} upstream, {miss['errors']} errors",
         miss["upstream"] == MISS_RUCS and miss["errors"] == 0),
        ("proxy peak RSS under hit load ≤ 64 MiB (L1_CAPACITY 10,000)", f"{memory['peak'] / 2**20:.1f} MiB",
         memory["peak"] <= 64 * 2**20),
        (f"{HEADS:,} unfinished heads of {HEAD_BYTES:,} bytes cost < 64 MiB", f"{heads_cost(memory) / 2**20:.1f} MiB",
         heads_cost(memory) < 64 * 2**20 and memory["heads"]["answered"] == 0),
    ]
    lines = ["| target | measured | |", "|---|---|---|"]
    lines += [f"| {target} | {value} | {'met' if met else '**not met**'} |" for target, value, met in rows]
    return "\n".join(lines)


def heads_cost(memory):
    return memory["heads"]["holding"] - memory["heads"]["before"]


def misses_table(misses):
    lines = ["| server | requests | distinct RUCs | upstream requests | p50 | p99 | errors |", "|---|---|---|---|---|---|---|"]
    for server, m in misses.items():
        lines.append(f"| {server} | {MISS_RUCS * MISS_PER_RUC} | {MISS_RUCS} | {m['upstream']} | {m['p50']:.0f} ms "
                     f"| {m['p99']:.0f} ms | {m['errors']} |")
    return "\n".join(lines)


def machine():
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    memory = int(open("/proc/meminfo").readline().split()[1]) // 2**20
    nginx = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()
    redis = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.split()[2]
    return (f"{os.cpu_count()} × {cpu}, {memory} GiB, {platform.platform()}; {nginx}, Redis {redis[2:]}; "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")


def main():
    # A thousand held connections need as many descriptors, here and in the
    # proxy (which inherits the limit).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    # SIGTERM (e.g. from a CI timeout) unwinds like Ctrl-C, so that
    # everything started is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    processes = Processes()
    try:
        bench = Bench(processes)
        rucs = bench.write_lists()
        bench.start_all()
        bench.preload_redis(rucs)
        warmed = bench.warm_nginx()
        bench.check_hits(rucs[SMALL - 1])
        idle_before = rss_bytes(bench.pids["proxy"])
        runs = bench.hits(SCENARIOS)
        misses = {"proxy": bench.misses("proxy", 20_000_000), "nginx": bench.misses("nginx", 30_000_000)}
        memory = {"idle": idle_before, "peak": bench.memory("proxy"), "peak_100k": bench.memory("proxy-l1-100k"),
                  "heads": bench.unfinished_heads("proxy")}
    finally:
        processes.close()
    scraper_rows = []
    if SCRAPER_SECONDS > 0:
        try:
            scraper_rows = scraper_bench.measure()
        finally:
            scraper_bench.kill_all()
    report = "\n\n".join([
        f"Machine: {machine()}.",
        f"Command: `make bench` (BENCH_DURATION={DURATION} s per run, BENCH_ROUNDS={ROUNDS}, "
        f"BENCH_WORKERS={WORKERS}: nginx worker processes = proxy threads; proxy UPSTREAM_MAX_INFLIGHT=UPSTREAM_GLOBAL_MAX_INFLIGHT={MISS_RUCS}; "
        f"wrk 1 thread; "
        f"nginx warmed with {warmed:,} of the {BIG:,} RUCs).",
        "### Targets",
        targets_table(runs, misses, memory),
        "### Hits (medians over rounds; errors and upstream requests summed)",
        hit_table(runs, SCENARIOS),
        f"### Misses: {MISS_RUCS * MISS_PER_RUC} requests over {MISS_RUCS} new RUCs, {MISS_PER_RUC} at once per RUC, "
        f"stub answering after {MISS_DELAY_MS} ms",
        misses_table(misses),
        "### Proxy memory",
        f"Idle RSS {memory['idle'] / 2**20:.1f} MiB; peak RSS {memory['peak'] / 2**20:.1f} MiB over {MEMORY_SECONDS} s "
        f"of hits at 256 connections spread over {BIG:,} RUCs (L1_CAPACITY 10,000); "
        f"{memory['peak_100k'] / 2**20:.1f} MiB with L1_CAPACITY 100,000. "
        f"{HEADS:,} connections each holding an unfinished head of {HEAD_BYTES:,} bytes: RSS "
        f"{memory['heads']['before'] / 2**20:.1f} → {memory['heads']['holding'] / 2**20:.1f} MiB "
        f"({heads_cost(memory) / HEADS / 1024:.1f} KiB per connection; {memory['heads']['answered']} answered before "
        f"their deadline).",
    ] + (["### Scraper against the SUNAT replica (browser, http and auto modes)", scraper_bench.report(scraper_rows)]
         if scraper_rows else []))
    publish(report, REPORT)


if __name__ == "__main__":
    main()
