#!/usr/bin/env python3
"""Release check of the container images (`make images-check`).

Builds ruc-proxy, ruc-scraper and ruc-scraper-http (scripts/images.sh),
then runs Redis, the SUNAT replica, the scraper and the proxy from images
on a private network,
as docker-compose.yml does, and checks what an operator relies on: image
metadata (healthcheck, stop signal, numeric non-root user), stripped
binaries, every healthcheck passing, no process running as root, a lookup
that is a MISS then a HIT with the record in Redis, 400 for an invalid RUC,
and SIGTERM stopping each service within its Compose grace period while a
lookup is in flight, which must still be answered; and the small
http-mode scraper: at most 40 MB, healthy by its own --healthcheck, a
record looked up from the replica, uid 10001. Prints a report and
writes it to target/images-check/report.md. Everything it starts is
removed at the end; the images are kept.

About 15 minutes from scratch on 2 cores (most of it compiling); not part
of `make test`. Needs docker (with an engine) or podman; on machines
without an image registry, make the base images first with
../shared/tools/container-standins/make-standins.sh.
"""

import argparse
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "target" / "images-check" / "report.md"
PREFIX = f"ruc-check-{os.getpid()}"
NETWORK = PREFIX
USER = "10001:10001"
# The small http-mode scraper's size bound.
SMALL_IMAGE_MB = 40
# Grace periods of docker-compose.yml (stop_grace_period).
GRACE = {"proxy": 80, "scraper": 60}
# Replica taxpayers (tests/src/replica/dataset.rs).
RUC_HIT = "20440374248"
RUC_PROXY_STOP = "10401510465"
RUC_SCRAPER_STOP = "20550263948"
RUC_INVALID = "20131312954"
HEALTHY_WITHIN = 180  # s, a bound against hangs; start periods are 10-30 s
HTTP_TIMEOUT = 120  # s, a bound against hangs


class Failed(Exception):
    """A check that did not pass; the report says which."""


def log(message):
    print(f"images-check: {message}", file=sys.stderr, flush=True)


def run(*args, timeout=600, check=True):
    """Runs a command and returns its stdout; raises Failed on error."""
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise Failed(f"{' '.join(args)}: exit {done.returncode}: {done.stderr.strip()[-2000:]}")
    return done.stdout.strip()


def choose_engine():
    """docker when its engine answers, else podman (as scripts/images.sh)."""
    wanted = os.environ.get("CONTAINER_ENGINE")
    if wanted:
        return wanted
    if shutil.which("docker") and subprocess.run(["docker", "info"], capture_output=True).returncode == 0:
        return "docker"
    if shutil.which("podman"):
        return "podman"
    sys.exit("images-check: need docker with a running engine, or podman (apt-get install podman)")


class Report:
    """Checks and measurements, in the order they happened."""

    def __init__(self):
        self.checks = []
        self.numbers = []

    def check(self, name, passed, detail=""):
        self.checks.append((name, passed, detail))
        log(f"{'ok  ' if passed else 'FAIL'} {name} {detail}")
        if not passed:
            raise Failed(f"{name}: {detail}")

    def number(self, name, value):
        self.numbers.append((name, value))
        log(f"{name}: {value}")

    def markdown(self, engine_version):
        when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        lines = [f"### `make images-check`, {when}, {engine_version}", "", "| measured | value |", "|---|---|"]
        lines += [f"| {name} | {value} |" for name, value in self.numbers]
        lines += ["", "| check | result |", "|---|---|"]
        lines += [f"| {name}{': ' + detail if detail else ''} | {'ok' if ok else '**FAILED**'} |"
                  for name, ok, detail in self.checks]
        return "\n".join(lines) + "\n"


class Stack:
    """The containers of one check, on their own network."""

    def __init__(self, engine):
        self.engine = engine
        self.names = []
        self.started = {}

    def container(self, role):
        return f"{PREFIX}-{role}"

    def start(self, role, image, *options, command=()):
        name = self.container(role)
        self.names.append(name)
        self.started[role] = time.monotonic()
        run(self.engine, "run", "-d", "--name", name, "--network", NETWORK, "--network-alias", role,
            *options, image, *command)
        return name

    def port(self, role, inner):
        """The loopback port the container's `inner` port is published on."""
        mapping = run(self.engine, "port", self.container(role), str(inner))
        return int(mapping.splitlines()[0].rsplit(":", 1)[1])

    def healthy(self, role):
        name = self.container(role)
        if self.engine == "podman":
            # Podman runs healthchecks on a timer only under systemd.
            return subprocess.run(["podman", "healthcheck", "run", name], capture_output=True).returncode == 0
        status = run(self.engine, "inspect", "--format", "{{.State.Health.Status}}", name)
        return status == "healthy"

    def wait_healthy(self, role, report):
        started = self.started[role]
        while not self.healthy(role):
            if time.monotonic() - started > HEALTHY_WITHIN:
                report.check(f"{role} healthcheck passes", False, f"not within {HEALTHY_WITHIN} s")
            if run(self.engine, "inspect", "--format", "{{.State.Running}}", self.container(role)) != "true":
                report.check(f"{role} healthcheck passes", False, "the container exited:\n" + self.logs(role))
            time.sleep(1)
        report.number(f"{role} healthy after its start", f"{time.monotonic() - started:.1f} s")
        report.check(f"{role} healthcheck passes", True)

    def uids(self, role):
        """The real uid of each process in the container."""
        script = "for s in /proc/[0-9]*/status; do sed -n 's/^Uid:[[:space:]]*\\([0-9]*\\).*/\\1/p' $s; done"
        return run(self.engine, "exec", self.container(role), "sh", "-c", script).split()

    def logs(self, role):
        done = subprocess.run([self.engine, "logs", self.container(role)], capture_output=True, text=True)
        return done.stdout + done.stderr

    def stop(self, role, grace):
        """SIGTERM (the images' STOPSIGNAL), SIGKILL after `grace`; returns
        the seconds it took and the exit code."""
        started = time.monotonic()
        run(self.engine, "stop", "-t", str(grace), self.container(role), timeout=grace + 30)
        took = time.monotonic() - started
        code = run(self.engine, "inspect", "--format", "{{.State.ExitCode}}", self.container(role))
        return took, int(code)

    def remove(self):
        for name in reversed(self.names):
            subprocess.run([self.engine, "rm", "-f", "-t", "0", name], capture_output=True)
        subprocess.run([self.engine, "network", "rm", NETWORK], capture_output=True)


def http(method, url, body=None):
    """Status, headers and body of one request; never raises on a status."""
    request = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as answer:
            return answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def in_background(function):
    """Runs `function` on a thread; the returned callable joins and gives
    its result."""
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("value", function()), daemon=True)
    thread.start()

    def join():
        thread.join(HTTP_TIMEOUT + 10)
        return result.get("value")

    return join


def build(engine, report, skip):
    if not skip:
        started = time.monotonic()
        subprocess.run([str(ROOT / "scripts" / "images.sh")], check=True, env={**os.environ, "CONTAINER_ENGINE": engine})
        report.number("the images built in", f"{time.monotonic() - started:.0f} s")
    run("cargo", "build", "--release", "--bin", "sunat-replica", timeout=1800)
    for service in ("proxy", "scraper", "scraper-http"):
        size = int(run(engine, "image", "inspect", "--format", "{{.Size}}", f"ruc-{service}:latest")) / 1e6
        report.number(f"ruc-{service} image size", f"{size:.1f} MB")
        if service == "scraper-http":
            report.check(f"ruc-scraper-http is at most {SMALL_IMAGE_MB} MB", size <= SMALL_IMAGE_MB, f"{size:.1f} MB")


def check_metadata(engine, report, service):
    """HEALTHCHECK, STOPSIGNAL and USER as the Dockerfile says, and a
    stripped binary."""
    image = f"ruc-{service}:latest"
    inspected = json.loads(run(engine, "image", "inspect", image))[0]
    config = inspected["Config"]
    # Docker keeps the healthcheck in Config, podman next to it.
    health = config.get("Healthcheck") or inspected.get("Healthcheck") or {}
    report.check(f"{image} checks itself (HEALTHCHECK --healthcheck)", "--healthcheck" in (health.get("Test") or []),
                 str(health.get("Test")))
    report.check(f"{image} stops with SIGTERM", config.get("StopSignal") == "SIGTERM", str(config.get("StopSignal")))
    report.check(f"{image} runs as {USER}", config.get("User") == USER, str(config.get("User")))
    with tempfile.TemporaryDirectory() as tmp:
        holder = run(engine, "create", image)
        try:
            run(engine, "cp", f"{holder}:/usr/local/bin/{service}", tmp)
        finally:
            run(engine, "rm", holder)
        binary = Path(tmp) / service
        sections = run("readelf", "-S", "-W", str(binary))
        size = binary.stat().st_size / 1e6
    report.number(f"{service} binary", f"{size:.1f} MB")
    report.check(f"{service} binary is stripped", ".symtab" not in sections and ".debug_" not in sections)


def start_stack(stack, report):
    stack.start("redis", "redis:7-alpine", "--health-cmd", "redis-cli ping", "--health-interval", "5s",
                command=("redis-server", "--appendonly", "yes", "--maxmemory-policy", "volatile-lru"))
    replica = ROOT / "target" / "release" / "sunat-replica"
    stack.start("replica", "debian:bookworm-slim", "-p", "127.0.0.1::8002", "-e", "REPLICA_LISTEN=0.0.0.0:8002",
                "-v", f"{replica}:/usr/local/bin/sunat-replica:ro", command=("/usr/local/bin/sunat-replica",))
    stack.start("scraper", "ruc-scraper:latest", "-p", "127.0.0.1::8001", "-e", "SUNAT_URL=http://replica:8002",
                "-e", "SCRAPER_SESSIONS=2")
    stack.start("proxy", "ruc-proxy:latest", "-p", "127.0.0.1::8000", "-e", "REDIS_URL=redis://redis:6379",
                "-e", "SCRAPER_URL=http://scraper:8001")
    for role in ("redis", "scraper", "proxy"):
        stack.wait_healthy(role, report)
    for role in ("scraper", "proxy"):
        uids = stack.uids(role)
        report.check(f"every process of the {role} runs as uid 10001", set(uids) == {"10001"},
                     f"{len(uids)} processes, uids {sorted(set(uids))}")


def check_lookups(stack, report, proxy, redis_get):
    started = time.monotonic()
    status, headers, body = http("GET", f"{proxy}/obtener-ruc/{RUC_HIT}")
    report.number("first lookup (MISS, through Chromium and the replica)", f"{time.monotonic() - started:.2f} s")
    report.check("a new RUC is a MISS", (status, headers.get("X-Cache")) == (200, "MISS"), f"{status} {headers.get('X-Cache')}")
    record = json.loads(body)
    deadline = time.monotonic() + 30
    while redis_get(f"sunat:ruc:{RUC_HIT}") == "" and time.monotonic() < deadline:
        time.sleep(0.2)
    stored = redis_get(f"sunat:ruc:{RUC_HIT}")
    report.check("the record is stored in Redis", stored != "" and json.loads(stored) == record)
    started = time.monotonic()
    status, headers, body = http("GET", f"{proxy}/obtener-ruc/{RUC_HIT}")
    report.number("second lookup (HIT)", f"{(time.monotonic() - started) * 1000:.1f} ms")
    report.check("the same RUC is then a HIT", (status, headers.get("X-Cache")) == (200, "HIT") and json.loads(body) == record,
                 f"{status} {headers.get('X-Cache')}")
    status, _, body = http("GET", f"{proxy}/obtener-ruc/{RUC_INVALID}")
    report.check("an invalid RUC gets 400", status == 400 and json.loads(body).get("ruc") == RUC_INVALID, str(status))


def check_warm(stack, report):
    """ruc-warm inside the proxy's image, through the proxy's batch
    endpoint: the RUC looked up before is a record."""
    done = subprocess.run([stack.engine, "exec", "-i", stack.container("proxy"), "ruc-warm",
                           "--proxy", "http://127.0.0.1:8000", "-"],
                          input=f"{RUC_HIT}\n{RUC_INVALID}\n", capture_output=True, text=True, timeout=120)
    report.check("ruc-warm in the proxy's image warms through the batch endpoint",
                 done.returncode == 1 and done.stdout.startswith("2 RUCs: 1 records, 0 not found, 1 invalid"),
                 f"exit {done.returncode}: {done.stdout.strip()} {done.stderr.strip()[-200:]}")


def check_small_image(engine, stack, report):
    """The http-mode scraper from scratch: its own healthcheck, a lookup on
    the replica, nothing running as root (read from the host's /proc: the
    image has no shell)."""
    image = "ruc-scraper-http:latest"
    inspected = json.loads(run(engine, "image", "inspect", image))[0]
    config = inspected["Config"]
    health = config.get("Healthcheck") or inspected.get("Healthcheck") or {}
    report.check(f"{image} checks itself with --healthcheck", "--healthcheck" in (health.get("Test") or []),
                 str(health.get("Test")))
    report.check(f"{image} runs as {USER}", config.get("User") == USER, str(config.get("User")))
    stack.start("scraper-http", image, "-p", "127.0.0.1::8001", "-e", "SUNAT_URL=http://replica:8002")
    stack.wait_healthy("scraper-http", report)
    pid = run(engine, "inspect", "--format", "{{.State.Pid}}", stack.container("scraper-http"))
    uid = Path(f"/proc/{pid}/status").read_text().split("Uid:")[1].split()[0]
    report.check("the small scraper runs as uid 10001", uid == "10001", uid)
    url = f"http://127.0.0.1:{stack.port('scraper-http', 8001)}/obtener-ruc/{RUC_HIT}"
    status, _, body = http("GET", url)
    report.check("the small scraper looks a record up on the replica",
                 status == 200 and json.loads(body).get("ruc") == RUC_HIT, f"status {status}")
    report.check("the small scraper logged no panic", "panicked" not in stack.logs("scraper-http"))


def stop_with_lookup_in_flight(stack, report, role, url, replica, delay_ms):
    """Stops `role` with SIGTERM while a lookup of a new RUC, slowed down by
    the replica, is in flight through it; the lookup must be answered."""
    ruc = url.rsplit("/", 1)[1]
    http("PUT", f"{replica}/__replica/behaviour", json.dumps({"delayMs": delay_ms}).encode())
    answer = in_background(lambda: http("GET", url))
    deadline = time.monotonic() + 60
    while json.loads(http("GET", f"{replica}/__replica/requests")[2])["searches"].get(ruc, 0) == 0:
        if time.monotonic() > deadline:
            report.check(f"a lookup reaches the replica through the {role}", False, "not within 60 s")
        time.sleep(0.1)
    took, code = stack.stop(role, GRACE[role])
    status, _, body = answer() or (None, None, b"")
    report.number(f"{role} stopped after SIGTERM (grace {GRACE[role]} s)", f"{took:.1f} s, exit code {code}")
    report.check(f"SIGTERM stops the {role} within its grace period", took < GRACE[role] and code == 0,
                 f"{took:.1f} s, exit {code}")
    report.check(f"a lookup in flight through the {role} (replica answering after {delay_ms} ms) is answered",
                 status == 200 and json.loads(body)["ruc"] == ruc, f"status {status}")
    http("PUT", f"{replica}/__replica/behaviour", b"{}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip-build", action="store_true", help="use the images already built")
    args = parser.parse_args()
    if not shutil.which("readelf"):
        sys.exit("images-check: readelf is missing (apt-get install binutils)")
    engine = choose_engine()
    report = Report()
    stack = Stack(engine)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    failure = None
    try:
        build(engine, report, args.skip_build)
        for service in ("proxy", "scraper"):
            check_metadata(engine, report, service)
        run(engine, "network", "create", NETWORK)
        start_stack(stack, report)
        proxy = f"http://127.0.0.1:{stack.port('proxy', 8000)}"
        scraper = f"http://127.0.0.1:{stack.port('scraper', 8001)}"
        replica = f"http://127.0.0.1:{stack.port('replica', 8002)}"
        redis_get = lambda key: run(engine, "exec", stack.container("redis"), "redis-cli", "--raw", "GET", key)
        check_lookups(stack, report, proxy, redis_get)
        check_warm(stack, report)
        check_small_image(engine, stack, report)
        stop_with_lookup_in_flight(stack, report, "proxy", f"{proxy}/obtener-ruc/{RUC_PROXY_STOP}", replica, 1000)
        stop_with_lookup_in_flight(stack, report, "scraper", f"{scraper}/obtener-ruc/{RUC_SCRAPER_STOP}", replica, 4000)
        for role in ("proxy", "scraper"):
            report.check(f"the {role} logged no panic", "panicked" not in stack.logs(role))
    except (Failed, OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
        failure = error
        for role in ("scraper", "proxy"):
            if stack.container(role) in stack.names:
                log(f"last log lines of the {role}:\n" + "\n".join(stack.logs(role).splitlines()[-20:]))
    finally:
        stack.remove()
    version = run(engine, "--version")
    text = report.markdown(version)
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(text)
    print(text)
    if failure:
        sys.exit(f"images-check: FAILED: {failure}")
    log(f"passed; report in {REPORT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
