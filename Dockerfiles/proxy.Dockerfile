# The caching proxy: the Rust binary and its Pingora settings, run as the
# unprivileged user `ruc` (uid 10001).
# Build from the repository root: docker build -f Dockerfiles/proxy.Dockerfile .
# (or `make images`).

# The builder stage is the same in both Dockerfiles (a test checks it), so
# that building the two images compiles the workspace once.
FROM rust:1-bookworm AS builder
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Stripped binaries without debug info: the images carry only what runs.
ENV CARGO_PROFILE_RELEASE_DEBUG=false \
    CARGO_PROFILE_RELEASE_STRIP=symbols

# Dependency layer: the manifests with empty sources, so that dependencies
# are rebuilt only when a manifest or the lock file changes.
COPY Cargo.toml Cargo.lock ./
COPY bench/Cargo.toml bench/
COPY contract/Cargo.toml contract/
COPY proxy/Cargo.toml proxy/
COPY scraper/Cargo.toml scraper/
COPY startup/Cargo.toml startup/
COPY tests/Cargo.toml tests/
COPY warm/Cargo.toml warm/
RUN for crate in bench contract proxy scraper startup tests warm; do \
      mkdir -p $crate/src && touch $crate/src/lib.rs && echo 'fn main() {}' > $crate/src/main.rs; \
    done \
 && cargo build --release --locked --bin proxy --bin scraper --bin ruc-warm

COPY contract contract
COPY startup startup
COPY proxy proxy
COPY scraper scraper
COPY warm warm
RUN touch contract/src/lib.rs startup/src/lib.rs proxy/src/lib.rs proxy/src/main.rs scraper/src/lib.rs scraper/src/main.rs \
    warm/src/lib.rs warm/src/main.rs \
 && cargo build --release --locked --bin proxy --bin scraper --bin ruc-warm

FROM debian:bookworm-slim
# uid/gid 10001 and the name `ruc` are free in Debian's base-passwd (a test
# checks it): `proxy` (uid 13) already exists there.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 ruc \
 && useradd --system --uid 10001 --gid ruc --no-create-home --shell /usr/sbin/nologin ruc
COPY --from=builder /src/target/release/proxy /usr/local/bin/proxy
# ruc-warm, to warm the cache from inside the container:
# docker compose exec -T proxy ruc-warm - < rucs.txt
COPY --from=builder /src/target/release/ruc-warm /usr/local/bin/ruc-warm
COPY conf/proxy.yaml /etc/ruc/proxy.yaml
# Numeric, so that Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
ENV PROXY_LISTEN=0.0.0.0:8000 \
    METRICS_LISTEN=0.0.0.0:9091 \
    RUST_LOG=info
EXPOSE 8000 9091
# The proxy checks itself: GET /health on PROXY_LISTEN, 0 on a 200.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/proxy", "--healthcheck"]
# SIGTERM: /health 503, new connections served PROXY_DRAIN_DELAY_SECS, then
# the work in flight finishes (README, "Stopping"); exit 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/proxy", "-c", "/etc/ruc/proxy.yaml"]
