# The caching proxy: the Rust binary and its Pingora settings.
# Build from the repository root: docker build -f Dockerfiles/proxy.Dockerfile .

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
 && cargo build --release --locked --bin proxy

COPY contract contract
COPY startup startup
COPY proxy proxy
RUN touch contract/src/lib.rs startup/src/lib.rs proxy/src/lib.rs proxy/src/main.rs \
 && cargo build --release --locked --bin proxy

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends curl ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 proxy
COPY --from=builder /src/target/release/proxy /usr/local/bin/proxy
COPY conf/proxy.yaml /etc/ruc/proxy.yaml
USER proxy
ENV PROXY_LISTEN=0.0.0.0:8000 \
    METRICS_LISTEN=0.0.0.0:9091 \
    RUST_LOG=info
EXPOSE 8000 9091
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8000/health || exit 1
# SIGTERM: stop accepting, drain for the grace period of proxy.yaml, exit.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/proxy", "-c", "/etc/ruc/proxy.yaml"]
