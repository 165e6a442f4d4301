# The project's commands. `make test` is what CI runs (.ci/run).

CARGO ?= cargo

.PHONY: deps run demo test check bench bench-batch bench-pages bench-traces bench-scraper bench-scrapers bench-fleet images images-check prometheus-rule replica scraper proxy

## Install the missing system packages (Debian/Ubuntu).
deps:
	./scripts/install-deps.sh

## The whole stack on this machine (Redis, scraper, proxy) against SUNAT.
run:
	./scripts/stack.sh run

## The same, offline, against the bundled SUNAT replica; shows a MISS then a HIT.
demo:
	./scripts/stack.sh demo

## Every test: unit tests and end-to-end tests with real Chromium.
test: deps
	$(CARGO) test --workspace

## Formatting and lints, as required before each commit.
check:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

## The benchmark: proxy vs nginx proxy_cache, misses, memory, scraper; writes
## target/bench/report.md; then the fleet's (target/bench/fleet.md) and the
## scraper tier's (target/bench/scrapers.md). See BENCHMARKS.md.
bench:
	./scripts/install-deps.sh bench
	$(CARGO) build --release --bin proxy --bin stub-scraper --bin scraper --bin sunat-replica --bin ruc-warm
	python3 bench/run.py
	python3 bench/fleet.py
	python3 bench/scrapers.py
	python3 bench/batch.py
	python3 bench/pages.py
	$(MAKE) bench-traces

## What traces cost a hit: this proxy with traces off and on, beside the
## proxy of the commit before traces existed, built from a worktree with
## the same target directory (target/bench/traces.md).
BENCH_TRACES_BEFORE ?= 75d97ab
bench-traces: deps
	rm -rf target/bench/before && git worktree prune
	git worktree add --detach target/bench/before $(BENCH_TRACES_BEFORE)
	cd target/bench/before && CARGO_TARGET_DIR=$(CURDIR)/target $(CARGO) build --release --bin proxy
	mkdir -p target/bench && cp target/release/proxy target/bench/proxy-before
	git worktree remove --force target/bench/before
	$(CARGO) build --release --bin proxy
	python3 bench/traces.py

## The pages behind the record alone: hits against the record's, and what
## one lookup costs SUNAT in each scraper mode (target/bench/pages.md).
bench-pages: deps
	$(CARGO) build --release --bin proxy --bin scraper --bin sunat-replica
	python3 bench/pages.py

## Batches alone: 1,000 cached RUCs in one request, new RUCs at the fleet
## limit, ruc-warm of 10,000 RUCs (target/bench/batch.md).
bench-batch: deps
	$(CARGO) build --release --bin proxy --bin stub-scraper --bin scraper --bin sunat-replica --bin ruc-warm
	python3 bench/batch.py

## The scraper tier behind one proxy alone: 1-3 scrapers (stub and
## Chromium), chromedriver against a Selenium Grid.
bench-scrapers: deps
	$(CARGO) build --release --bin proxy --bin stub-scraper --bin scraper --bin sunat-replica
	python3 bench/scrapers.py

## The fleet's part alone: misses through three replicas, hits on single
## Redis, TLS and Cluster.
bench-fleet:
	./scripts/install-deps.sh bench
	$(CARGO) build --release --bin proxy --bin stub-scraper
	python3 bench/fleet.py

## The scraper alone, in each SCRAPER_MODE (browser, http, auto) with 1, 2 and 4 sessions.
bench-scraper: deps
	$(CARGO) build --release --bin scraper --bin sunat-replica
	python3 bench/scraper.py

## The container images ruc-proxy and ruc-scraper, tagged with the crate
## version and `latest`, with docker (when its engine runs) or podman.
images:
	./scripts/images.sh

## The Prometheus Operator's PrometheusRule, made from conf/prometheus/alerts.yml
## (run after editing the rules; a test checks that the two agree).
prometheus-rule:
	./scripts/prometheus-rule.sh

## The release check of the images: builds them, runs the stack from them and
## checks health, users, a MISS then a HIT, and SIGTERM with a lookup in
## flight; about 15 min; report in target/images-check/report.md.
images-check:
	python3 scripts/images-check.py

## The SUNAT replica on 127.0.0.1:8002 (for trying the scraper offline).
replica:
	$(CARGO) run --release --bin sunat-replica

## The scraper on 0.0.0.0:8001, against the replica started by `make replica`.
scraper: deps
	SUNAT_URL=$${SUNAT_URL:-http://127.0.0.1:8002} $(CARGO) run --release --bin scraper

## The proxy on 0.0.0.0:8000 (metrics on 9091), in front of `make scraper`,
## with Redis at REDIS_URL (default redis://127.0.0.1:6379).
proxy: deps
	$(CARGO) run --release --bin proxy -- -c conf/proxy.yaml
