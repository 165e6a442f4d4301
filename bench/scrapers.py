#!/usr/bin/env python3
"""The scraper tier behind one proxy (part of `make bench`; alone:
`make bench-scrapers`).

  pool   distinct new RUCs per second through one proxy with 1, 2 and 3
         scrapers: stub scrapers answering at once (the proxy's own cost of
         balancing), then real scrapers (one Chromium each) against the
         SUNAT replica. Clients: as many as scrapers, each asking RUCs nobody
         asked before, back to back, for BENCH_SCRAPERS_SECONDS (default 20).
  grid   one real scraper (one session) through its own chromedriver and
         through a Selenium Grid 4 standalone server: time from start to
         healthy (driver and session start), and warm lookups' p50/p95.

Writes BENCH_SCRAPERS_REPORT (default target/bench/scrapers.md) and stdout.
"""

import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench  # noqa: E402
import scraper as scraper_bench  # noqa: E402

REPORT = os.environ.get("BENCH_SCRAPERS_REPORT", os.path.join(bench.ROOT, "target", "bench", "scrapers.md"))
SECONDS = float(os.environ.get("BENCH_SCRAPERS_SECONDS", "20"))
JAR = os.path.join(bench.ROOT, "target", "selenium", "selenium-server-4.48.0.jar")
GRID_LOOKUPS = 12


class Tier:
    def __init__(self, processes):
        self.p = processes
        self.redis_port = bench.free_port()
        processes.start("redis", ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1",
                                  "--save", "", "--appendonly", "no", "--dir", processes.work])
        self.replica, address = scraper_bench.start("sunat-replica", {"REPLICA_LISTEN": "127.0.0.1:0"},
                                                    "SUNAT replica listening")
        self.replica_url = f"http://{address}"
        self.next_ruc = 0

    def stubs(self, count):
        urls = []
        for n in range(count):
            port = bench.free_port()
            self.p.start(f"stub-{n}-{port}", [os.path.join(bench.RELEASE, "stub-scraper")],
                         {"STUB_LISTEN": f"127.0.0.1:{port}", "RUST_LOG": "warn"})
            urls.append(f"http://127.0.0.1:{port}")
            bench.wait_until(lambda: bench.http(f"{urls[-1]}/__stub/lookups")[0] == 200, "a stub scraper")
        return urls

    def scrapers(self, count, env=None):
        started = []
        for _ in range(count):
            tmp = tempfile.mkdtemp(prefix="ruc-bench-")
            process, address = scraper_bench.start("scraper", {
                "SCRAPER_LISTEN": "127.0.0.1:0", "SUNAT_URL": self.replica_url, "SCRAPER_SESSIONS": "1",
                "SCRAPER_DRAIN_SECS": "0", "TMPDIR": tmp, "RUST_LOG": "warn,scraper::app=info", **(env or {})},
                "scraper listening")
            started.append((process, f"http://{address}"))
        return started

    def proxy(self, scraper_urls):
        """A proxy in front of `scraper_urls`, on a Redis emptied of what the
        runs before left (records, the fleet's breaker)."""
        subprocess.run(["redis-cli", "-p", str(self.redis_port), "FLUSHALL"], check=True, capture_output=True)
        port, metrics = bench.free_port(), bench.free_port()
        self.p.start(f"proxy-{port}", [os.path.join(bench.RELEASE, "proxy"), "-c",
                                       os.path.join(bench.ROOT, "conf", "proxy.yaml")], {
            "PROXY_LISTEN": f"127.0.0.1:{port}", "METRICS_LISTEN": f"127.0.0.1:{metrics}",
            "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}", "SCRAPER_URL": ",".join(scraper_urls),
            "UPSTREAM_MAX_INFLIGHT": "64", "UPSTREAM_GLOBAL_MAX_INFLIGHT": "64", "RUST_LOG": "warn"})
        base = f"http://127.0.0.1:{port}"
        bench.wait_until(lambda: bench.http(f"{base}/health")[0] == 200, "the proxy")
        return base

    def new_rucs(self, count):
        first = self.next_ruc
        self.next_ruc += count
        return [bench.valid_ruc("10", 60_000_000 + first + n) for n in range(count)]

    def drive(self, base, clients, seconds):
        """`clients` threads asking new RUCs back to back; lookups per second
        and latencies."""
        latencies, errors = [], [0]
        stop_at = time.perf_counter() + seconds
        lock = threading.Lock()

        def client():
            while time.perf_counter() < stop_at:
                with lock:
                    ruc = self.new_rucs(1)[0]
                started = time.perf_counter()
                try:
                    with urllib.request.urlopen(f"{base}/obtener-ruc/{ruc}", timeout=120):
                        pass
                except urllib.error.HTTPError as error:
                    if error.code != 404:
                        errors[0] += 1
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        threads = [threading.Thread(target=client) for _ in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return {"rate": len(latencies) / (time.perf_counter() - started), "errors": errors[0],
                "p50": bench.percentile(latencies, 0.5) * 1000, "p95": bench.percentile(latencies, 0.95) * 1000}


def pool_rows(tier):
    rows = []
    for count in (1, 2, 3):
        base = tier.proxy(tier.stubs(count))
        result = tier.drive(base, 16, min(SECONDS, 10))
        rows.append(("stub", count, 16, result))
        bench.log(f"{count} stub scrapers: {result['rate']:,.0f} lookups/s")
    for count in (1, 2, 3):
        scrapers = tier.scrapers(count)
        base = tier.proxy([url for _, url in scrapers])
        tier.drive(base, count, 3)  # warm-up
        result = tier.drive(base, count, SECONDS)
        rows.append(("real (Chromium)", count, count, result))
        bench.log(f"{count} real scrapers: {result['rate']:.2f} lookups/s")
        for process, _ in scrapers:
            scraper_bench.stop(process)
    return rows


def grid_rows(tier):
    rows = []
    grid_port = bench.free_port()
    tier.p.start("grid", ["java", "-jar", JAR, "standalone", "--host", "127.0.0.1", "--port", str(grid_port),
                                 "--selenium-manager", "false", "--max-sessions", "1", "--detect-drivers", "false",
                                 "--driver-configuration", "display-name=chromium",
                                 'stereotype={"browserName":"chrome"}', "max-sessions=1"])
    status = f"http://127.0.0.1:{grid_port}/status"
    bench.wait_until(lambda: b'"ready":true' in bench.http(status)[2].replace(b" ", b""), "the Grid", 120)
    for name, env in (("own chromedriver", {}),
                      ("Selenium Grid 4.48 standalone", {"WEBDRIVER_URL": f"http://127.0.0.1:{grid_port}/wd/hub"})):
        started = time.perf_counter()
        [(process, base)] = tier.scrapers(1, env)
        bench.wait_until(lambda: bench.http(f"{base}/health")[0] == 200, "the scraper", 120)
        ready = time.perf_counter() - started
        latencies = [scraper_bench.lookup(base, scraper_bench.RUCS[i % len(scraper_bench.RUCS)])
                     for i in range(GRID_LOOKUPS)]
        warm = latencies[2:]
        rows.append((name, ready, bench.percentile(warm, 0.5) * 1000, bench.percentile(warm, 0.95) * 1000))
        bench.log(f"{name}: healthy after {ready:.1f} s")
        scraper_bench.stop(process)
    return rows


def report(pool, grid):
    lines = [f"### Scrapers behind one proxy: distinct new RUCs per second ({SECONDS:.0f} s per real run)", "",
             "| scrapers | kind | clients | lookups/s | p50 | p95 | errors |", "|---|---|---|---|---|---|---|"]
    for kind, count, clients, r in pool:
        lines.append(f"| {count} | {kind} | {clients} | {r['rate']:,.2f} | {r['p50']:.0f} ms | {r['p95']:.0f} ms "
                     f"| {r['errors']} |")
    lines += ["", "### One scraper (one session): its own chromedriver against a Selenium Grid", "",
              "| WebDriver | start to healthy (driver + session) | warm lookup p50 | p95 |", "|---|---|---|---|"]
    for name, ready, p50, p95 in grid:
        lines.append(f"| {name} | {ready:.1f} s | {p50:.0f} ms | {p95:.0f} ms |")
    return "\n".join(lines)


def main():
    processes = bench.Processes()
    try:
        tier = Tier(processes)
        pool = pool_rows(tier)
        grid = grid_rows(tier)
    finally:
        scraper_bench.kill_all()
        processes.close()
    text = report(pool, grid)
    bench.publish(text, REPORT)


if __name__ == "__main__":
    main()
