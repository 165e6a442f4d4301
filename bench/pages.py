#!/usr/bin/env python3
"""The pages behind the record (issue 25; part of `make bench`; alone:
`make bench-pages`, about 3 minutes).

  hits   one proxy on a Redis holding 1,000 records and, for the same RUCs,
         1,000 representantes pages: wrk with 32 connections over the
         record paths and over the page paths, BENCH_ROUNDS rounds
         alternating: the same front, so the same speed is expected.
  cost   the scraper alone against the SUNAT replica, in http and in
         browser mode (one session): the record and each page of two
         taxpayers, one lookup at a time; time per lookup, and what the
         replica (SUNAT) saw per lookup: form loads, searches, pages.

Writes BENCH_PAGES_REPORT (default target/bench/pages.md) and stdout.
"""

import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import batch as batch_bench  # noqa: E402
import run as bench  # noqa: E402
import scraper as scraper_bench  # noqa: E402

REPORT = os.environ.get("BENCH_PAGES_REPORT", os.path.join(bench.ROOT, "target", "bench", "pages.md"))
RUCS = 1000
KINDS = ["representantes", "trabajadores", "establecimientos", "deuda-coactiva"]
TAXPAYERS = ["20440374248", "20987654326"]


def representantes_page(ruc):
    person = {"tipoDocumento": "DNI", "numeroDocumento": "40112233", "nombre": "SALAZAR RIOS MARIO ANDRES",
              "cargo": "GERENTE GENERAL", "desde": "2023-01-02"}
    return json.dumps({"ruc": ruc, "representantes": [person, person], "consultadoEn": "2026-12-02T10:00:00Z"})


def hits(processes):
    stack = batch_bench.Stack(processes)
    rucs = [bench.valid_ruc("20", 70_000_000 + n) for n in range(RUCS)]
    cli = ["-p", str(stack.redis_port)]
    bench.pipe_records(cli, rucs)
    bench.pipe_records(cli, rucs, page="representantes", body=representantes_page)
    _, port = stack.proxy("proxy", "http://127.0.0.1:9")
    target = f"127.0.0.1:{port}"
    lists = {}
    for name, suffix in (("record", ""), ("representantes", "/representantes")):
        lists[name] = os.path.join(processes.work, f"{name}.txt")
        with open(lists[name], "w") as file:
            file.write("\n".join(ruc + suffix for ruc in rucs) + "\n")
        subprocess.run(["wrk", "-t1", "-c1", "-d2s", "-s", bench.LUA, f"http://{target}", "--", lists[name],
                        "sequential"], capture_output=True, check=True)
    runs = {name: [] for name in lists}
    for round_ in range(bench.ROUNDS):
        order = list(lists) if round_ % 2 == 0 else list(reversed(list(lists)))
        for name in order:
            out = subprocess.run(["wrk", "-t1", "-c32", f"-d{bench.DURATION}s", "--latency", "-s", bench.LUA,
                                  f"http://{target}", "--", lists[name]], capture_output=True, text=True, check=True)
            result = bench.parse_wrk(out.stdout)
            assert result["errors"] == 0, out.stdout
            runs[name].append(result)
    return {name: {field: statistics.median(r[field] for r in results) for field in ("rps", "p50", "p99")}
            for name, results in runs.items()}


def requests(replica):
    with urllib.request.urlopen(f"{replica}/__replica/requests", timeout=10) as response:
        counts = json.load(response)
    return counts["formLoads"], sum(counts["searches"].values()), counts["secondaryVisits"]


def cost(mode, replica, address):
    env = {"SCRAPER_LISTEN": "127.0.0.1:0", "SUNAT_URL": replica, "SCRAPER_MODE": mode, "SCRAPER_SESSIONS": "1",
           "SCRAPER_DRAIN_SECS": "0", "RUST_LOG": "warn,scraper::app=info"}
    process, scraper = scraper_bench.start("scraper", env, "scraper listening")
    base = f"http://{scraper}"
    bench.wait_until(lambda: bench.http(f"{base}/health")[0] == 200, "the scraper", 120)
    rows = []
    for page_kind in [None] + KINDS:
        times, before = [], requests(replica)
        for ruc in TAXPAYERS:
            path = f"/obtener-ruc/{ruc}" + (f"/{page_kind}" if page_kind else "")
            started = time.perf_counter()
            status = bench.http(f"{base}{path}")[0]
            assert status == 200, (path, status)
            times.append(time.perf_counter() - started)
        after = requests(replica)
        visits = [(b - a) / len(TAXPAYERS) for a, b in zip(before, after)]
        rows.append((mode, page_kind or "record", statistics.mean(times) * 1000, *visits))
    scraper_bench.stop(process)
    return rows


def report(hit_rows, cost_rows):
    lines = ["## The pages behind the record (issue 25)", "",
             f"`make bench-pages` (`bench/pages.py`), {bench.machine()}.", "",
             f"### Hits: 1,000 records against 1,000 representantes pages, wrk -c32, {bench.DURATION} s, "
             f"median of {bench.ROUNDS} rounds alternating", "",
             "| path | requests/s | p50 | p99 |", "|---|---:|---:|---:|"]
    for name, result in hit_rows.items():
        path = "/obtener-ruc/<ruc>" if name == "record" else f"/obtener-ruc/<ruc>/{name}"
        lines.append(f"| `{path}` | {result['rps']:,.0f} | {result['p50']:.2f} ms | {result['p99']:.2f} ms |")
    lines += ["", "### One lookup at the scraper against the replica (mean of two taxpayers; SUNAT's visits per lookup)", "",
              "| mode | what | time | form loads | searches | pages |", "|---|---|---:|---:|---:|---:|"]
    for mode, what, ms, forms, searches, pages in cost_rows:
        lines.append(f"| {mode} | {what} | {ms:.0f} ms | {forms:.1f} | {searches:.1f} | {pages:.1f} |")
    return "\n".join(lines) + "\n"


def main():
    processes = bench.Processes()
    try:
        bench.log("pages: hits")
        hit_rows = hits(processes)
        replica, address = scraper_bench.start("sunat-replica", {"REPLICA_LISTEN": "127.0.0.1:0"}, "SUNAT replica listening")
        replica_url = f"http://{address}"
        cost_rows = []
        for mode in ("http", "browser"):
            bench.log(f"pages: cost in {mode} mode")
            cost_rows += cost(mode, replica_url, address)
        bench.publish(report(hit_rows, cost_rows), REPORT)
    finally:
        scraper_bench.kill_all()
        processes.close()


if __name__ == "__main__":
    main()
