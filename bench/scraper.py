#!/usr/bin/env python3
"""Scraper benchmark against the SUNAT replica (part of `make bench`; alone:
`make bench-scraper`).

For 1, 2 and 3 sessions, with the release binaries: as many clients as
sessions send warm lookups back to back for BENCH_SCRAPER_SECONDS (default
30), rotating over the replica's taxpayers. Reports lookups per second, the
p50/p95 of the client-side latency, and the peak memory of the browsers
(chromedriver and Chromium processes under the scraper): the sum of their
RSS, and the sum of their PSS, where pages shared between Chromium's
processes count once (the better estimate of what they cost).
Standard library only.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASE = os.path.join(ROOT, "target", "release")
RUCS = ["20440374248", "10401510465", "20987654326", "20550263948",
        "20493919271", "20146806679", "10471234562", "17155542071"]
WARMUP = 8
SECONDS = float(os.environ.get("BENCH_SCRAPER_SECONDS", "30"))
SESSIONS = (1, 2, 3)
STARTED = []


def start(binary, env, marker):
    """Starts a release binary in its own process group; returns (process,
    the address it logs in the line containing `marker`)."""
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


def kill_all():
    for process in STARTED:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)


def lookup(base, ruc):
    started = time.perf_counter()
    with urllib.request.urlopen(f"{base}/obtener-ruc/{ruc}", timeout=120) as response:
        body = json.load(response)
    assert body["ruc"] == ruc, body
    return time.perf_counter() - started


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def descendants(pid):
    """PIDs of every process below `pid`."""
    children = {}
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as stat:
                ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
        except (ValueError, OSError, IndexError):
            continue
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def memory_bytes(pid):
    """(RSS, PSS) of one process; zeros once it is gone."""
    found = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                name, _, rest = line.partition(":")
                if name in ("Rss", "Pss"):
                    found[name] = int(rest.split()[0]) * 1024
    except OSError:
        pass
    return found.get("Rss", 0), found.get("Pss", 0)


def sessions_run(replica_url, sessions):
    """One scraper with `sessions` browsers, driven by as many clients."""
    tmp = tempfile.mkdtemp(prefix="ruc-bench-")
    env = {"SCRAPER_LISTEN": "127.0.0.1:0", "SUNAT_URL": replica_url,
           "SCRAPER_SESSIONS": str(sessions), "SCRAPER_RECYCLE_AFTER": "1000000",
           "TMPDIR": tmp, "RUST_LOG": "warn,scraper::app=info"}
    process, address = start("scraper", env, "scraper listening")
    base = f"http://{address}"
    try:
        for i in range(WARMUP):
            lookup(base, RUCS[i % len(RUCS)])
        return drive(base, process.pid, sessions)
    finally:
        stop(process)
        shutil.rmtree(tmp, ignore_errors=True)


def drive(base, scraper_pid, clients):
    latencies, peak = [], [0, 0]
    stop_at = time.perf_counter() + SECONDS

    def client(offset):
        i = offset
        while time.perf_counter() < stop_at:
            latencies.append(lookup(base, RUCS[i % len(RUCS)]))
            i += clients

    def sample():
        while time.perf_counter() < stop_at:
            sizes = [memory_bytes(pid) for pid in descendants(scraper_pid)]
            peak[0] = max(peak[0], sum(rss for rss, _ in sizes))
            peak[1] = max(peak[1], sum(pss for _, pss in sizes))
            time.sleep(0.5)

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    threads.append(threading.Thread(target=sample))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"sessions": clients, "rate": len(latencies) / (time.perf_counter() - started),
            "p50": percentile(latencies, 0.5), "p95": percentile(latencies, 0.95),
            "browsers_rss": peak[0], "browsers_pss": peak[1]}


def measure():
    """Runs every session count; returns one dict per count."""
    replica, address = start("sunat-replica", {"REPLICA_LISTEN": "127.0.0.1:0"}, "SUNAT replica listening")
    try:
        return [sessions_run(f"http://{address}", n) for n in SESSIONS]
    finally:
        stop(replica)


def table(rows):
    lines = ["| sessions | lookups/s | p50 | p95 | browsers' peak RSS (sum) | browsers' peak PSS (sum) |",
             "|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['sessions']} | {row['rate']:.2f} | {row['p50'] * 1000:.0f} ms "
                     f"| {row['p95'] * 1000:.0f} ms | {row['browsers_rss'] / 2**20:.0f} MiB "
                     f"| {row['browsers_pss'] / 2**20:.0f} MiB |")
    return "\n".join(lines)


if __name__ == "__main__":
    try:
        print(table(measure()))
    finally:
        kill_all()
