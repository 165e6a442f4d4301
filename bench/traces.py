#!/usr/bin/env python3
"""What traces cost a cache hit (issue 26; part of `make bench`; alone:
`make bench-traces`, about 6 minutes with the builds).

One proxy on a Redis holding one record, hits on it with wrk (32
connections, BENCH_DURATION seconds, BENCH_ROUNDS rounds, the variants
alternating), in four variants:

  before      the proxy built from the commit before traces existed
              (BENCH_TRACES_BEFORE, default 75d97ab; built by the Makefile
              target into target/bench/proxy-before)
  off         this proxy, traces off (no OTEL_EXPORTER_OTLP_ENDPOINT)
  off + tp    the same, every request carrying a `traceparent` (read,
              checked, named in the log line; passed on only on a miss)
  on          traces exported (parentbased_always_on) to an OTLP sink that
              answers 200 to everything: a span per request and per cache read
  on, 1 %     the same, parentbased_traceidratio 0.01: spans are made for
              every request, 1 in 100 exported

Writes BENCH_TRACES_REPORT (default target/bench/traces.md) and stdout.
"""

import http.server
import os
import re
import statistics
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import batch as batch_bench  # noqa: E402
import run as bench  # noqa: E402

REPORT = os.environ.get("BENCH_TRACES_REPORT", os.path.join(bench.ROOT, "target", "bench", "traces.md"))
BEFORE = os.path.join(bench.ROOT, "target", "bench", "proxy-before")
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
ONE_PERCENT = {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.01"}


class Sink(http.server.BaseHTTPRequestHandler):
    """An OTLP endpoint that takes every export and keeps nothing."""

    def do_POST(self):  # noqa: N802 (the handler's name)
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def main():
    processes = bench.Processes()
    sink = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    try:
        stack = batch_bench.Stack(processes)
        ruc = bench.valid_ruc("20", 80_000_001)
        bench.pipe_records(["-p", str(stack.redis_port)], [ruc])
        otel = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{sink.server_address[1]}"}
        nowhere = "http://127.0.0.1:9"
        variants = {
            "before": (stack.proxy("before", nowhere, binary=BEFORE), []),
            "off": (stack.proxy("off", nowhere), []),
            "off + tp": (stack.proxy("off-tp", nowhere), ["-H", f"traceparent: {TRACEPARENT}"]),
            "on": (stack.proxy("on", nowhere, otel), []),
            "on, 1 % sampled": (stack.proxy("on-1pc", nowhere, {**otel, **ONE_PERCENT}), []),
        }
        runs = {name: [] for name in variants}
        for round_ in range(bench.ROUNDS):
            names = list(variants) if round_ % 2 == 0 else list(reversed(list(variants)))
            for name in names:
                (process, port), headers = variants[name]
                cpu = bench.cpu_seconds(process.pid)
                out = subprocess.run(["wrk", "-t1", "-c32", f"-d{bench.DURATION}s", "--latency", *headers,
                                      f"http://127.0.0.1:{port}/obtener-ruc/{ruc}"],
                                     capture_output=True, text=True, check=True)
                result = bench.parse_wrk(out.stdout)
                assert result["errors"] == 0, out.stdout
                # The proxy's CPU time per answer: steadier than req/s on
                # a shared machine.
                answers = int(re.search(r"(\d+) requests in", out.stdout).group(1))
                result["cpu_us"] = 1e6 * (bench.cpu_seconds(process.pid) - cpu) / answers
                runs[name].append(result)
        rows = ["| variant | proxy CPU µs per answer: median [range] | vs before | req/s: median [range] | p50 ms | p99 ms |",
                "|---|---|---|---|---|---|"]
        base = statistics.median(r["cpu_us"] for r in runs["before"])
        for name, results in runs.items():
            cpu, rates = [r["cpu_us"] for r in results], [r["rps"] for r in results]
            p50 = statistics.median(r["p50"] for r in results)
            p99 = statistics.median(r["p99"] for r in results)
            rows.append(f"| {name} | {statistics.median(cpu):.2f} [{min(cpu):.2f}–{max(cpu):.2f}] | "
                        f"{100 * (statistics.median(cpu) / base - 1):+.1f} % | "
                        f"{statistics.median(rates):,.0f} [{min(rates):,.0f}–{max(rates):,.0f}] | {p50:.3f} | {p99:.3f} |")
        report = "\n".join([
            "# Traces on the hit path", "",
            f"{bench.machine()}; wrk -t1 -c32, {bench.DURATION} s x {bench.ROUNDS} rounds, one cached RUC.", "",
            *rows, ""])
        bench.publish(report, REPORT)
    finally:
        sink.shutdown()
        processes.close()


if __name__ == "__main__":
    main()
