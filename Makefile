# The project's commands. `make test` is what CI runs (.ci/run).

CARGO ?= cargo

.PHONY: deps run demo test check bench-scraper bench-proxy replica scraper proxy

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

## Scraper benchmark against the replica (results go to BENCHMARKS.md by hand).
bench-scraper: deps
	$(CARGO) build --release --bin scraper --bin sunat-replica
	python3 bench/scraper.py

## Proxy hit-path benchmark next to nginx proxy_cache (needs wrk and nginx).
bench-proxy: deps
	command -v wrk >/dev/null && command -v nginx >/dev/null || apt-get install -y -qq wrk nginx
	$(CARGO) build --release --bin proxy
	./bench/proxy-hits.sh

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
