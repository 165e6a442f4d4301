#!/usr/bin/env python3
"""Batches, `POST /obtener-ruc` and `ruc-warm` (part of `make bench`; alone:
`make bench-batch`, about 3 minutes).

  cached  one proxy on a Redis preloaded with 1,000 records: a batch of those
          1,000 RUCs over one keep-alive connection, BENCH_BATCH_ROUNDS (50)
          times, as one JSON array and as NDJSON lines, with the in-process
          copy (L1) and without it (every record read from Redis): time per
          batch (median, p95), records per second, the proxy's RSS after.
  new     the direct-HTTP scraper (4 sessions) in front of the SUNAT replica
          answering each search after 200 ms; one proxy with
          UPSTREAM_GLOBAL_MAX_INFLIGHT=4: a batch of 120 new RUCs with the
          default batch share (3 slots) and with UPSTREAM_BATCH_MAX_INFLIGHT=4;
          lookups at a time at the scraper (its /health, sampled every 5 ms):
          the most and the mean while the batch runs; and, during the first,
          single lookups of new RUCs against the same lookups alone.
  warm    `ruc-warm` of 10,000 new RUCs (a file) through one proxy
          (UPSTREAM_GLOBAL_MAX_INFLIGHT=8) against a stub scraper answering
          after 20 ms: without --rate, then 2,000 others with --rate 100; the
          lookups the stub (SUNAT) saw; then the first file again, all cached.

Everything runs on loopback in its own process group and is stopped at the
end. The report goes to BENCH_BATCH_REPORT (default target/bench/batch.md)
and stdout.
"""

import http.client
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench  # noqa: E402
import scraper as scraper_bench  # noqa: E402

REPORT = os.environ.get("BENCH_BATCH_REPORT", os.path.join(bench.ROOT, "target", "bench", "batch.md"))
ROUNDS = int(os.environ.get("BENCH_BATCH_ROUNDS", "50"))
CACHED, NEW, WARM = 1000, 120, 10_000


class Stack:
    def __init__(self, processes):
        self.p = processes
        self.redis_port = bench.free_port()
        processes.start("redis", ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1",
                                  "--save", "", "--appendonly", "no", "--dir", processes.work])
        bench.wait_until(lambda: subprocess.run(["redis-cli", "-p", str(self.redis_port), "ping"],
                                                capture_output=True).stdout.strip() == b"PONG", "redis")

    def flush(self):
        subprocess.run(["redis-cli", "-p", str(self.redis_port), "flushall"], check=True, capture_output=True)

    def proxy(self, name, scraper_url, env=None, binary=None):
        port, metrics = bench.free_port(), bench.free_port()
        process = self.p.start(name, [binary or os.path.join(bench.RELEASE, "proxy"), "-c",
                                      os.path.join(bench.ROOT, "conf", "proxy.yaml")], {
            "PROXY_LISTEN": f"127.0.0.1:{port}", "METRICS_LISTEN": f"127.0.0.1:{metrics}",
            "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}", "SCRAPER_URL": scraper_url,
            "RUST_LOG": "warn", **(env or {})})
        bench.wait_until(lambda: b'"connected"' in bench.http(f"http://127.0.0.1:{port}/health")[2], name)
        return process, port

    def stub(self, delay_ms):
        port = bench.free_port()
        self.p.start(f"stub-{port}", [os.path.join(bench.RELEASE, "stub-scraper")],
                     {"STUB_LISTEN": f"127.0.0.1:{port}", "RUST_LOG": "warn"})
        url = f"http://127.0.0.1:{port}"
        bench.wait_until(lambda: bench.http(f"{url}/__stub/lookups")[0] == 200, "the stub scraper")
        bench.http(f"{url}/__stub/delay?ms={delay_ms}", "PUT")
        return url


def post(connection, rucs, ndjson=False):
    """One batch over `connection`; (seconds, status, body)."""
    body = json.dumps({"rucs": rucs}).encode()
    headers = {"Content-Type": "application/json"}
    if ndjson:
        headers["Accept"] = "application/x-ndjson"
    started = time.perf_counter()
    connection.request("POST", "/obtener-ruc", body, headers)
    response = connection.getresponse()
    data = response.read()
    return time.perf_counter() - started, response.status, data


def check_items(data, ndjson, count, cache=None):
    items = [json.loads(line) for line in data.splitlines()] if ndjson else json.loads(data)
    assert len(items) == count, (len(items), count)
    if cache:
        assert all(item["cache"] == cache for item in items), items[0]
    return items


def cached(stack, processes):
    rucs = [bench.valid_ruc("20", 30_000_000 + n) for n in range(CACHED)]
    bench.pipe_records(["-p", str(stack.redis_port)], rucs)
    rows = []
    for label, env in (("with L1", {}), ("L1 off (Redis each time)", {"L1_TTL_MS": "0"})):
        process, port = stack.proxy(f"proxy-cached-{len(rows)}", "http://127.0.0.1:9", env)
        for ndjson in (False, True):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            post(connection, rucs, ndjson)  # warms the L1 and the connection
            times = []
            for _ in range(ROUNDS):
                seconds, status, data = post(connection, rucs, ndjson)
                assert status == 200, data[:200]
                times.append(seconds)
            check_items(data, ndjson, CACHED, "HIT")
            connection.close()
            median = statistics.median(times)
            rows.append((label, "NDJSON" if ndjson else "array", median * 1000,
                         bench.percentile(times, 0.95) * 1000, CACHED / median,
                         bench.rss_bytes(process.pid) / 2**20, len(data) / 2**20))
        process.kill()
    return rows


class Sampler:
    """Lookups at a time at a scraper, from its /health every 5 ms."""

    def __init__(self, base):
        self.base, self.samples, self.running = base, [], True
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while self.running:
            try:
                self.samples.append(json.loads(bench.http(f"{self.base}/health")[2])["lookups"])
            except OSError:
                pass
            time.sleep(0.005)

    def stop(self):
        self.running = False
        self.thread.join()
        busy = [s for s in self.samples if s > 0]
        return max(self.samples, default=0), statistics.mean(busy) if busy else 0.0


def single_lookup(port, ruc):
    """Seconds to a single lookup's answer (the replica knows few RUCs:
    most are "not found", a SUNAT visit all the same)."""
    started = time.perf_counter()
    try:
        status = bench.http(f"http://127.0.0.1:{port}/obtener-ruc/{ruc}")[0]
    except urllib.error.HTTPError as error:
        status = error.code
    assert status in (200, 404), status
    return time.perf_counter() - started


def new_rucs(stack):
    replica, replica_address = scraper_bench.start("sunat-replica", {"REPLICA_LISTEN": "127.0.0.1:0"},
                                                   "SUNAT replica listening")
    request = urllib_put(f"http://{replica_address}/__replica/behaviour", {"delayMs": 200})
    assert request == 200
    scraper, scraper_address = scraper_bench.start("scraper", {
        "SCRAPER_LISTEN": "127.0.0.1:0", "SUNAT_URL": f"http://{replica_address}", "SCRAPER_MODE": "http",
        "SCRAPER_SESSIONS": "4", "SCRAPER_DRAIN_SECS": "0", "RUST_LOG": "warn,scraper::app=info"},
        "scraper listening")
    base = f"http://{scraper_address}"
    bench.wait_until(lambda: bench.http(f"{base}/health")[0] == 200, "the scraper")
    rows, singles = [], {}
    number = 40_000_000
    for share in (None, 4):
        env = {"UPSTREAM_GLOBAL_MAX_INFLIGHT": "4", "UPSTREAM_MAX_INFLIGHT": "4",
               **({"UPSTREAM_BATCH_MAX_INFLIGHT": str(share)} if share else {})}
        process, port = stack.proxy(f"proxy-new-{share}", base, env)
        if share is None:
            alone = []
            for _ in range(5):
                number += 1
                alone.append(single_lookup(port, bench.valid_ruc("20", number)))
            singles["alone"] = statistics.median(alone)
        rucs = [bench.valid_ruc("20", number + 1 + n) for n in range(NEW)]
        number += NEW + 1
        sampler = Sampler(base)
        during = []
        result = {}
        thread = threading.Thread(target=lambda: result.update(
            answer=post(http.client.HTTPConnection("127.0.0.1", port, timeout=300), rucs)))
        thread.start()
        while thread.is_alive() and share is None and len(during) < 5:
            time.sleep(0.5)
            number += 1
            during.append(single_lookup(port, bench.valid_ruc("20", number)))
        thread.join()
        most, mean = sampler.stop()
        seconds, status, data = result["answer"]
        assert status == 200
        check_items(data, False, NEW)
        if during:
            singles["during"] = statistics.median(during)
        share_label = "3 (default: global − 1)" if share is None else "4 (= global)"
        rows.append((share_label, seconds, NEW / seconds, most, mean))
        process.kill()
    scraper.kill()
    replica.kill()
    return rows, singles


def urllib_put(url, body):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="PUT",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status


def warm(stack, processes):
    stub = stack.stub(20)
    process, port = stack.proxy("proxy-warm", stub, {"UPSTREAM_GLOBAL_MAX_INFLIGHT": "8",
                                                     "UPSTREAM_MAX_INFLIGHT": "8"})
    rows = []
    for label, rate, first in (("new, no --rate", None, 50_000_000), ("new, --rate 100", 100, 60_000_000),
                               ("same file again (cached)", None, 50_000_000)):
        count = WARM if rate is None else 2000
        path = os.path.join(processes.work, f"rucs-{first}-{count}.txt")
        with open(path, "w") as file:
            file.write("\n".join(bench.valid_ruc("20", first + n) for n in range(count)) + "\n")
        before = int(bench.http(f"{stub}/__stub/lookups")[2])
        argv = [os.path.join(bench.RELEASE, "ruc-warm"), "--proxy", f"http://127.0.0.1:{port}", path]
        if rate:
            argv[1:1] = ["--rate", str(rate)]
        started = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        assert done.returncode == 0, done.stdout + done.stderr
        asked = int(bench.http(f"{stub}/__stub/lookups")[2]) - before
        rows.append((label, count, seconds, count / seconds, asked, done.stdout.strip()))
    process.kill()
    return rows


def report(cached_rows, new_rows, singles, warm_rows):
    lines = ["## Batches and ruc-warm (issue 24)", "",
             f"`make bench-batch` (`bench/batch.py`), {bench.machine()}.", "",
             f"### A batch of {CACHED:,} cached RUCs, one keep-alive connection, {ROUNDS} batches", "",
             "| proxy | answer | median | p95 | records/s | proxy RSS after | answer size |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for label, form, median, p95, per_second, rss, size in cached_rows:
        lines.append(f"| {label} | {form} | {median:.1f} ms | {p95:.1f} ms | {per_second:,.0f} | "
                     f"{rss:.0f} MiB | {size:.1f} MiB |")
    lines += ["", f"### {NEW} new RUCs in one batch: direct-HTTP scraper (4 sessions), replica answering "
              "after 200 ms, UPSTREAM_GLOBAL_MAX_INFLIGHT=4", "",
              "| batch items' share | batch time | RUCs/s | most lookups at a time at the scraper | mean while busy |",
              "|---|---:|---:|---:|---:|"]
    for share, seconds, per_second, most, mean in new_rows:
        lines.append(f"| {share} | {seconds:.1f} s | {per_second:.1f} | {most} | {mean:.2f} |")
    lines += ["", f"Single lookups of new RUCs: {singles.get('alone', 0) * 1000:.0f} ms alone (median of 5), "
              f"{singles.get('during', 0) * 1000:.0f} ms during the first batch (median of "
              f"{'5' if 'during' in singles else '0'}): they take the slot the batch leaves free.", "",
              "### ruc-warm through one proxy (UPSTREAM_GLOBAL_MAX_INFLIGHT=8: batch items 7), stub scraper "
              "answering after 20 ms", "",
              "| run | RUCs | time | RUCs/s | lookups the stub (SUNAT) saw | summary |", "|---|---:|---:|---:|---:|---|"]
    for label, count, seconds, per_second, asked, summary in warm_rows:
        lines.append(f"| {label} | {count:,} | {seconds:.1f} s | {per_second:,.0f} | {asked:,} | {summary} |")
    return "\n".join(lines) + "\n"


def main():
    processes = bench.Processes()
    try:
        stack = Stack(processes)
        bench.log("batch: 1,000 cached RUCs")
        cached_rows = cached(stack, processes)
        stack.flush()
        bench.log("batch: new RUCs against the replica")
        new_rows, singles = new_rucs(stack)
        stack.flush()
        bench.log("batch: ruc-warm")
        warm_rows = warm(stack, processes)
        text = report(cached_rows, new_rows, singles, warm_rows)
        bench.publish(text, REPORT)
    finally:
        scraper_bench.kill_all()
        processes.close()


if __name__ == "__main__":
    main()
