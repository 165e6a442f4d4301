#!/usr/bin/env python3
"""The fleet's benchmark (part of `make bench`; alone: `make bench-fleet`).

  misses  three proxy replicas on one Redis, a stub scraper answering after
          1 s: 50 new RUCs, each asked 3 times on every replica, all at
          once. Upstream requests (the target: one per RUC), and how much
          later than the leading replica a replica that followed it over
          Redis answered (its lease's outcome, woken by pub/sub).
  hits    one proxy with its in-process copy off (every hit reads Redis) on
          a single Redis, on Redis over TLS, and on a 3-master Redis Cluster:
          32 connections over 10,000 RUCs, BENCH_ROUNDS rounds alternating.

Everything runs on loopback in its own process group and is stopped at the
end. Settings as in run.py (BENCH_DURATION, BENCH_ROUNDS); the report goes to
BENCH_FLEET_REPORT (default target/bench/fleet.md) and stdout.
"""

import asyncio
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench  # noqa: E402

REPORT = os.environ.get("BENCH_FLEET_REPORT", os.path.join(bench.ROOT, "target", "bench", "fleet.md"))
HIT_RUCS = 10_000
MISS_RUCS, PER_REPLICA, MISS_DELAY_MS = 50, 3, 1000


class Fleet:
    def __init__(self, processes):
        self.p = processes
        self.work = processes.work
        self.stub_port = bench.free_port()
        self.stub = f"http://127.0.0.1:{self.stub_port}"

    def start_stub(self):
        self.p.start("stub", [os.path.join(bench.RELEASE, "stub-scraper")],
                     {"STUB_LISTEN": f"127.0.0.1:{self.stub_port}", "RUST_LOG": "warn"})
        bench.wait_until(lambda: bench.http(f"{self.stub}/__stub/lookups")[0] == 200, "the stub scraper")

    def lookups(self):
        return int(bench.http(f"{self.stub}/__stub/lookups")[2])

    def redis(self, name, *args):
        """A redis-server with `args`, in its own directory."""
        directory = os.path.join(self.work, name)
        os.makedirs(directory)
        self.p.start(name, ["redis-server", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                            "--dir", directory, *args])
        return directory

    def proxy(self, name, redis_env, l1=True):
        port, metrics = bench.free_port(), bench.free_port()
        env = {"PROXY_LISTEN": f"127.0.0.1:{port}", "METRICS_LISTEN": f"127.0.0.1:{metrics}",
               "SCRAPER_URL": self.stub, "RUST_LOG": "warn",
               # The stub is not SUNAT: no queueing of the 50 distinct misses.
               "UPSTREAM_MAX_INFLIGHT": str(MISS_RUCS), "UPSTREAM_GLOBAL_MAX_INFLIGHT": str(MISS_RUCS),
               **({} if l1 else {"L1_TTL_MS": "0"}), **redis_env}
        self.p.start(name, [os.path.join(bench.RELEASE, "proxy"), "-c", os.path.join(bench.ROOT, "conf", "proxy.yaml")],
                     env)
        target = f"127.0.0.1:{port}"
        bench.wait_until(lambda: bench.http(f"http://{target}/health")[2].find(b'"connected"') > 0, name)
        return target

    # -- deployments -------------------------------------------------------

    def single(self):
        port = bench.free_port()
        self.redis("redis-single", "--port", str(port))
        cli = ["-p", str(port)]
        wait_for_ping(cli)
        bench.pipe_records(cli, hit_rucs())
        return {"REDIS_URL": f"redis://127.0.0.1:{port}"}

    def tls(self):
        port = bench.free_port()
        directory = os.path.join(self.work, "certs")
        os.makedirs(directory)
        make_certificates(directory)
        ca = os.path.join(directory, "ca.crt")
        self.redis("redis-tls", "--port", "0", "--tls-port", str(port), "--tls-auth-clients", "no",
                   "--tls-cert-file", os.path.join(directory, "server.crt"),
                   "--tls-key-file", os.path.join(directory, "server.key"), "--tls-ca-cert-file", ca)
        cli = ["-p", str(port), "--tls", "--cacert", ca]
        wait_for_ping(cli)
        bench.pipe_records(cli, hit_rucs())
        return {"REDIS_URL": f"rediss://127.0.0.1:{port}", "REDIS_CA_FILE": ca}

    def cluster(self):
        # A node also listens on its port + 10000: at most 55535.
        ports = [next(p for p in iter(bench.free_port, None) if p <= 55_535) for _ in range(3)]
        for port in ports:
            self.redis(f"redis-cluster-{port}", "--port", str(port), "--cluster-enabled", "yes",
                       "--cluster-config-file", "nodes.conf")
            wait_for_ping(["-p", str(port)])
        subprocess.run(["redis-cli", "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports),
                        "--cluster-replicas", "0", "--cluster-yes"], check=True, capture_output=True)
        for port in ports:
            bench.wait_until(lambda: "cluster_state:ok" in cli_out(["-p", str(port)], "CLUSTER", "INFO"),
                             "the cluster")
        owners = slot_owners(ports[0])
        by_port = {port: [] for port in ports}
        for ruc in hit_rucs():
            by_port[owners[key_slot(f"sunat:ruc:{ruc}")]].append(ruc)
        for port, rucs in by_port.items():
            bench.pipe_records(["-p", str(port)], rucs)
        return {"REDIS_MODE": "cluster", "REDIS_URL": ",".join(f"redis://127.0.0.1:{p}" for p in ports)}

    # -- measuring ---------------------------------------------------------

    def hits(self, targets, rucs_file):
        runs = {}
        for round_ in range(bench.ROUNDS):
            order = list(targets) if round_ % 2 == 0 else list(reversed(list(targets)))
            for name in order:
                argv = ["wrk", "-t1", "-c32", f"-d{bench.DURATION}s", "--latency", "-s", bench.LUA,
                        f"http://{targets[name]}", "--", rucs_file]
                result = bench.parse_wrk(subprocess.run(argv, capture_output=True, text=True, check=True).stdout)
                runs.setdefault(name, []).append(result)
                bench.log(f"round {round_ + 1} hits on {name}: {result['rps']:,.0f} req/s")
        return runs

    def misses(self, replicas):
        """Every request at once; per RUC, the leader's answer (no `collapsed`
        in its Cache-Status) and when each replica answered."""
        rucs = [bench.valid_ruc("10", 40_000_000 + n) for n in range(MISS_RUCS)]
        asks = [(ruc, replica) for ruc in rucs for replica in replicas for _ in range(PER_REPLICA)]
        bench.http(f"{self.stub}/__stub/delay?ms={MISS_DELAY_MS}", "PUT")
        before = self.lookups()
        answers = asyncio.run(burst(asks))
        upstream = self.lookups() - before
        bench.http(f"{self.stub}/__stub/delay?ms=0", "PUT")
        later_elsewhere, later_here = [], []
        for ruc in rucs:
            mine = [a for a in answers if a["ruc"] == ruc and a["ok"]]
            leaders = [a for a in mine if "collapsed" not in a["cache_status"]]
            if len(leaders) != 1:
                continue
            leader = leaders[0]
            for answer in mine:
                if answer is not leader:
                    lag = (answer["done"] - leader["done"]) * 1000
                    (later_here if answer["replica"] == leader["replica"] else later_elsewhere).append(lag)
        return {"requests": len(asks), "upstream": upstream, "errors": sum(1 for a in answers if not a["ok"]),
                "elsewhere": later_elsewhere, "here": later_here}


async def burst(asks):
    async def one(ruc, replica):
        host, port = replica.split(":")
        answer = {"ruc": ruc, "replica": replica, "ok": False, "cache_status": "", "done": 0.0}
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), 30)
            writer.write(f"GET /obtener-ruc/{ruc} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode())
            raw = await asyncio.wait_for(reader.read(), 30)
            answer["done"] = time.perf_counter()
            writer.close()
            head = raw.split(b"\r\n\r\n", 1)[0].decode("latin-1")
            answer["ok"] = head.startswith("HTTP/1.1 200") and f'"ruc":"{ruc}"'.encode() in raw
            answer["cache_status"] = next((line.split(":", 1)[1].strip() for line in head.split("\r\n")
                                           if line.lower().startswith("cache-status:")), "")
        except (OSError, asyncio.TimeoutError):
            pass
        return answer

    return await asyncio.gather(*(one(ruc, replica) for ruc, replica in asks))


def hit_rucs():
    return [bench.valid_ruc("20", 50_000_000 + n) for n in range(HIT_RUCS)]


def cli_out(cli, *args):
    return subprocess.run(["redis-cli", *cli, *args], capture_output=True, text=True).stdout


def wait_for_ping(cli):
    bench.wait_until(lambda: cli_out(cli, "PING").strip() == "PONG", f"redis-server {' '.join(cli)}")


def key_slot(key):
    """Redis Cluster's slot of a key without a hash tag: CRC16 (XMODEM) mod 16384."""
    crc = 0
    for byte in key.encode():
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021 if crc & 0x8000 else crc << 1) & 0xFFFF
    return crc % 16384


def slot_owners(port):
    """Slot → port of its master, from CLUSTER NODES."""
    owners = {}
    for line in cli_out(["-p", str(port)], "CLUSTER", "NODES").splitlines():
        fields = line.split()
        node_port = int(fields[1].split("@")[0].rsplit(":", 1)[1])
        for ranges in fields[8:]:
            first, _, last = ranges.partition("-")
            for slot in range(int(first), int(last or first) + 1):
                owners[slot] = node_port
    return owners


def make_certificates(directory):
    with open(os.path.join(directory, "san.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for args in (["req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=bench-ca"],
                 ["req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"],
                 ["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                  "-out", "server.crt", "-days", "2", "-extfile", "san.ext"]):
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)


def lag_row(name, lags):
    if not lags:
        return f"| {name} | 0 | | | |"
    return (f"| {name} | {len(lags)} | {bench.percentile(lags, 0.5):.1f} ms | {bench.percentile(lags, 0.99):.1f} ms "
            f"| {max(lags):.1f} ms |")


def report(misses, runs):
    met = misses["upstream"] == MISS_RUCS and misses["errors"] == 0
    single = statistics.median(r["rps"] for r in runs["single Redis"])
    lines = [
        f"### Fleet: misses through three replicas ({misses['requests']} requests over {MISS_RUCS} new RUCs, "
        f"{PER_REPLICA} per replica per RUC, stub answering after {MISS_DELAY_MS} ms)",
        f"Upstream requests: **{misses['upstream']}** for {MISS_RUCS} RUCs, {misses['errors']} errors "
        f"(target: exactly one per RUC: {'met' if met else '**not met**'}).",
        "",
        "How much later than the replica leading a RUC's lookup the others answered (from the same burst):",
        "",
        "| answered by | answers | p50 later | p99 later | most |",
        "|---|---|---|---|---|",
        lag_row("another replica (followed the lease over Redis)", misses["elsewhere"]),
        lag_row("the leading replica itself (in-process followers)", misses["here"]),
        "",
        f"### Fleet: hits read from Redis (L1_TTL_MS=0), 32 connections over {HIT_RUCS:,} RUCs",
        "",
        "| Redis | requests/s (median) | p50 | p99 | errors | ratio to single Redis |",
        "|---|---|---|---|---|---|",
    ]
    for name, results in runs.items():
        rps = statistics.median(r["rps"] for r in results)
        lines.append(f"| {name} | {rps:,.0f} | {bench.median_of(results, 'p50'):.2f} ms "
                     f"| {bench.median_of(results, 'p99'):.2f} ms | {sum(r['errors'] for r in results)} "
                     f"| {rps / single:.2f} |")
    return "\n".join(lines)


def main():
    processes = bench.Processes()
    try:
        fleet = Fleet(processes)
        fleet.start_stub()
        rucs_file = os.path.join(processes.work, "rucs.txt")
        with open(rucs_file, "w") as f:
            f.write("\n".join(hit_rucs()) + "\n")
        deployments = {"single Redis": fleet.single(), "Redis over TLS": fleet.tls(),
                       "Redis Cluster (3 masters)": fleet.cluster()}
        replicas = [fleet.proxy(f"replica-{i}", deployments["single Redis"]) for i in range(3)]
        misses = fleet.misses(replicas)
        bench.log(f"fleet misses: {misses['upstream']} upstream requests for {MISS_RUCS} RUCs")
        targets = {name: fleet.proxy(f"hits-{n}", env, l1=False) for n, (name, env) in enumerate(deployments.items())}
        runs = fleet.hits(targets, rucs_file)
    finally:
        processes.close()
    text = report(misses, runs)
    bench.publish(text, REPORT)


if __name__ == "__main__":
    main()
