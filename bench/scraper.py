#!/usr/bin/env python3
"""Scraper benchmark against the SUNAT replica (part of `make bench`; alone:
`make bench-scraper`).

For each SCRAPER_MODE (browser, http, auto) and 1, 2 and 4 sessions, with the
release binaries: as many clients as sessions (keep-alive connections) send
warm lookups back to back for BENCH_SCRAPER_SECONDS (default 30), rotating
over the replica's taxpayers. Reports lookups per second, the p50/p95 of the
client-side latency, the scraper's own peak RSS, the Chromium processes under
it and their peak memory (chromedriver and Chromium): the sum of their RSS,
and the sum of their PSS, where pages shared between Chromium's processes
count once (the better estimate of what they cost). Then the issue-14
targets: http p50 <= 5 ms and >= 300 lookups/s at 4 sessions, >= 50x the
browser's lookups/s, scraper RSS <= 50 MiB without any Chromium, auto within
10 % of http. Standard library only.
"""

import http.client
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
SESSIONS = (1, 2, 4)
MODES = ("browser", "http", "auto")
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


class Client:
    """One keep-alive connection to the scraper."""

    def __init__(self, address):
        host, port = address.rsplit(":", 1)
        self.connection = http.client.HTTPConnection(host, int(port), timeout=120)

    def lookup(self, ruc):
        started = time.perf_counter()
        self.connection.request("GET", f"/obtener-ruc/{ruc}")
        response = self.connection.getresponse()
        body = json.loads(response.read())
        assert response.status == 200 and body["ruc"] == ruc, body
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


def sessions_run(replica_url, mode, sessions):
    """One scraper in `mode` with `sessions` slots, driven by as many clients."""
    tmp = tempfile.mkdtemp(prefix="ruc-bench-")
    env = {"SCRAPER_LISTEN": "127.0.0.1:0", "SUNAT_URL": replica_url, "SCRAPER_MODE": mode,
           "SCRAPER_SESSIONS": str(sessions), "SCRAPER_RECYCLE_AFTER": "1000000",
           "TMPDIR": tmp, "RUST_LOG": "warn,scraper::app=info"}
    process, address = start("scraper", env, "scraper listening")
    try:
        for i in range(WARMUP):
            lookup(f"http://{address}", RUCS[i % len(RUCS)])
        return {"mode": mode, **drive(address, process.pid, sessions)}
    finally:
        stop(process)
        shutil.rmtree(tmp, ignore_errors=True)


def drive(address, scraper_pid, clients):
    latencies, peak = [], {"scraper": 0, "rss": 0, "pss": 0, "chromium": 0}
    stop_at = time.perf_counter() + SECONDS

    def client(offset):
        connection, i = Client(address), offset
        while time.perf_counter() < stop_at:
            latencies.append(connection.lookup(RUCS[i % len(RUCS)]))
            i += clients

    def sample():
        while time.perf_counter() < stop_at:
            below = descendants(scraper_pid)
            sizes = [memory_bytes(pid) for pid in below]
            peak["scraper"] = max(peak["scraper"], memory_bytes(scraper_pid)[0])
            peak["rss"] = max(peak["rss"], sum(rss for rss, _ in sizes))
            peak["pss"] = max(peak["pss"], sum(pss for _, pss in sizes))
            peak["chromium"] = max(peak["chromium"], sum(1 for pid in below if is_chromium(pid)))
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
            "scraper_rss": peak["scraper"], "browsers_rss": peak["rss"], "browsers_pss": peak["pss"],
            "chromium": peak["chromium"]}


def is_chromium(pid):
    try:
        with open(f"/proc/{pid}/comm") as comm:
            return "chrom" in comm.read()
    except OSError:
        return False


def measure():
    """Runs every mode and session count; returns one dict per run."""
    replica, address = start("sunat-replica", {"REPLICA_LISTEN": "127.0.0.1:0"}, "SUNAT replica listening")
    try:
        return [sessions_run(f"http://{address}", mode, n) for mode in MODES for n in SESSIONS]
    finally:
        stop(replica)


def table(rows):
    lines = ["| mode | sessions | lookups/s | p50 | p95 | scraper peak RSS | Chromium processes "
             "| browsers' peak RSS (sum) | browsers' peak PSS (sum) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['mode']} | {row['sessions']} | {row['rate']:.2f} | {row['p50'] * 1000:.1f} ms "
                     f"| {row['p95'] * 1000:.1f} ms | {row['scraper_rss'] / 2**20:.1f} MiB | {row['chromium']} "
                     f"| {row['browsers_rss'] / 2**20:.0f} MiB | {row['browsers_pss'] / 2**20:.0f} MiB |")
    return "\n".join(lines)


def targets(rows):
    """The issue-14 targets, checked on this run's rows."""
    at = {(row["mode"], row["sessions"]): row for row in rows}
    http4, auto4, browser4 = at[("http", 4)], at[("auto", 4)], at[("browser", 4)]
    http_rows = [row for row in rows if row["mode"] == "http"]
    checks = [
        ("http p50 at 4 sessions <= 5 ms", f"{http4['p50'] * 1000:.1f} ms", http4["p50"] <= 0.005),
        ("http lookups/s at 4 sessions >= 300", f"{http4['rate']:.0f}", http4["rate"] >= 300),
        ("http / browser lookups/s at 4 sessions >= 50x", f"{http4['rate'] / browser4['rate']:.0f}x",
         http4["rate"] >= 50 * browser4["rate"]),
        ("http scraper peak RSS <= 50 MiB", f"{max(r['scraper_rss'] for r in http_rows) / 2**20:.1f} MiB",
         all(r["scraper_rss"] <= 50 * 2**20 for r in http_rows)),
        ("no Chromium process in http mode", str(max(r["chromium"] for r in http_rows)),
         all(r["chromium"] == 0 for r in http_rows)),
        ("auto lookups/s within 10 % of http at 4 sessions", f"{auto4['rate'] / http4['rate']:.2f}x",
         auto4["rate"] >= 0.9 * http4["rate"]),
    ]
    lines = ["| target | measured | met |", "|---|---|---|"]
    lines += [f"| {name} | {value} | {'yes' if met else 'NO'} |" for name, value, met in checks]
    return "\n".join(lines)


def report(rows):
    return table(rows) + "\n\n" + targets(rows)


if __name__ == "__main__":
    try:
        print(report(measure()))
    finally:
        kill_all()
