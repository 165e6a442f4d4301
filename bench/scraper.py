#!/usr/bin/env python3
"""Scraper benchmark against the SUNAT replica (run with `make bench-scraper`).

Measures, with the release binaries:
  1. warm lookup latency (one session, sequential lookups): median and p95;
  2. throughput with 1, 2 and 3 sessions: lookups per second with twice as
     many concurrent clients as sessions, so that no session is ever idle.

Prints a Markdown table for BENCHMARKS.md. Standard library only.
"""

import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASE = os.path.join(ROOT, "target", "release")
RUCS = ["20440374248", "10401510465", "20987654326", "20550263948",
        "20493919271", "20146806679", "10471234562", "17155542071"]
WARMUP = 8
LATENCY_LOOKUPS = int(os.environ.get("BENCH_LATENCY_LOOKUPS", "100"))
THROUGHPUT_SECONDS = float(os.environ.get("BENCH_THROUGHPUT_SECONDS", "30"))


STARTED = []


def start(binary, env, marker):
    """Starts a release binary and returns (process, address from its log)."""
    process = subprocess.Popen([os.path.join(RELEASE, binary)], env={**os.environ, **env},
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    STARTED.append(process)
    for line in process.stderr:
        found = re.search(r"addr=(\S+)", line) if marker in line else None
        if found:
            threading.Thread(target=lambda: [None for _ in process.stderr], daemon=True).start()
            return process, found.group(1)
    sys.exit(f"{binary} exited before logging '{marker} addr=…'")


def stop(process):
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=90)


def lookup(base, ruc):
    started = time.perf_counter()
    with urllib.request.urlopen(f"{base}/obtener-ruc/{ruc}", timeout=120) as response:
        body = json.load(response)
    assert body["ruc"] == ruc, body
    return time.perf_counter() - started


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def with_scraper(replica_url, sessions, work):
    tmp = tempfile.mkdtemp(prefix="ruc-bench-")
    env = {"SCRAPER_LISTEN": "127.0.0.1:0", "SUNAT_URL": replica_url,
           "SCRAPER_SESSIONS": str(sessions), "SCRAPER_RECYCLE_AFTER": "1000000",
           "TMPDIR": tmp, "RUST_LOG": "warn,scraper::app=info"}
    process, address = start("scraper", env, "scraper listening")
    base = f"http://{address}"
    try:
        for i in range(WARMUP):
            lookup(base, RUCS[i % len(RUCS)])
        return work(base)
    finally:
        stop(process)


def latency(base):
    times = [lookup(base, RUCS[i % len(RUCS)]) for i in range(LATENCY_LOOKUPS)]
    return statistics.median(times), percentile(times, 0.95)


def throughput(sessions):
    def run(base):
        done = []
        stop_at = time.perf_counter() + THROUGHPUT_SECONDS

        def client(offset):
            i = offset
            while time.perf_counter() < stop_at:
                lookup(base, RUCS[i % len(RUCS)])
                done.append(time.perf_counter())
                i += 1

        started = time.perf_counter()
        threads = [threading.Thread(target=client, args=(n,)) for n in range(2 * sessions)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return len(done) / (time.perf_counter() - started)
    return run


def main():
    try:
        measure()
    finally:
        for process in STARTED:
            if process.poll() is None:
                process.kill()


def measure():
    replica, address = start("sunat-replica", {"REPLICA_LISTEN": "127.0.0.1:0"}, "SUNAT replica listening")
    replica_url = f"http://{address}"
    try:
        median, p95 = with_scraper(replica_url, 1, latency)
        rates = {n: with_scraper(replica_url, n, throughput(n)) for n in (1, 2, 3)}
    finally:
        stop(replica)
    print(f"| warm lookup, 1 session, {LATENCY_LOOKUPS} sequential | median {median * 1000:.0f} ms | p95 {p95 * 1000:.0f} ms |")
    for n, rate in rates.items():
        print(f"| throughput, {n} session(s), {2 * n} clients, {THROUGHPUT_SECONDS:.0f} s | {rate:.2f} lookups/s | |")


if __name__ == "__main__":
    main()
