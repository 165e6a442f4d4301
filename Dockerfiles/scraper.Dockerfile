# The scraper: the Rust binary, Debian's Chromium and chromedriver, and tini
# as PID 1 so that killed browsers are reaped.
# Build from the repository root: docker build -f Dockerfiles/scraper.Dockerfile .

FROM rust:1-bookworm AS builder
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src

# Dependency layer: the manifests with empty sources, so that dependencies
# are rebuilt only when a manifest or the lock file changes.
COPY Cargo.toml Cargo.lock ./
COPY bench/Cargo.toml bench/
COPY contract/Cargo.toml contract/
COPY proxy/Cargo.toml proxy/
COPY scraper/Cargo.toml scraper/
COPY startup/Cargo.toml startup/
COPY tests/Cargo.toml tests/
RUN for crate in bench contract proxy scraper startup tests; do \
      mkdir -p $crate/src && touch $crate/src/lib.rs && echo 'fn main() {}' > $crate/src/main.rs; \
    done \
 && cargo build --release --locked --bin scraper

COPY contract contract
COPY startup startup
COPY scraper scraper
RUN touch contract/src/lib.rs startup/src/lib.rs scraper/src/lib.rs scraper/src/main.rs \
 && cargo build --release --locked --bin scraper

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends chromium chromium-driver tini curl ca-certificates fonts-liberation \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --uid 10001 scraper
COPY --from=builder /src/target/release/scraper /usr/local/bin/scraper
USER scraper
ENV SCRAPER_LISTEN=0.0.0.0:8001 \
    RUST_LOG=info
EXPOSE 8001
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8001/health || exit 1
# SIGTERM: finish lookups in flight, close the browsers, stop chromedriver.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/scraper"]
