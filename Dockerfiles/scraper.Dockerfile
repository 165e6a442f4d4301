# The scraper: the Rust binary, Debian's Chromium and chromedriver, and tini
# as PID 1 so that killed browsers are reaped; run as the unprivileged user
# `ruc` (uid 10001).
# Build from the repository root: docker build -f Dockerfiles/scraper.Dockerfile .
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

# The small scraper for SCRAPER_MODE=http (`--target http`, `make images`
# tags it ruc-scraper-http): no browser, so nothing but the binary and the
# shared libraries it links (glibc's DNS is built into libc since 2.34;
# the TLS roots are in the binary). About 12 MB.
FROM builder AS http-rootfs
RUN mkdir -p /rootfs/usr/local/bin /rootfs/tmp /unknown-pages \
 && chmod 1777 /rootfs/tmp \
 && cp target/release/scraper /rootfs/usr/local/bin/scraper \
 && ldd target/release/scraper | grep -o '/[^ ]*' | xargs -I{} cp --parents -L {} /rootfs/

FROM scratch AS http
COPY --from=http-rootfs /rootfs /
# The pages the scraper could not read, kept for diagnosis: a volume, so
# that they outlive the container and the root filesystem can be read-only.
COPY --from=http-rootfs --chown=10001:10001 /unknown-pages /var/lib/ruc-scraper/unknown-pages
VOLUME ["/var/lib/ruc-scraper/unknown-pages"]
USER 10001:10001
ENV SCRAPER_LISTEN=0.0.0.0:8001 \
    SCRAPER_MODE=http \
    SCRAPER_UNKNOWN_PAGES_DIR=/var/lib/ruc-scraper/unknown-pages \
    RUST_LOG=info
EXPOSE 8001
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/scraper", "--healthcheck"]
# SIGTERM: finish lookups in flight. No browsers, so no init is needed.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/scraper"]

# The default image: the browser scraper.
FROM debian:bookworm-slim
# uid/gid 10001 and the name `ruc` are free in Debian's base-passwd (a test
# checks it). Chromium needs a writable home.
RUN apt-get update \
 && apt-get install -y --no-install-recommends chromium chromium-driver tini ca-certificates fonts-liberation \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 ruc \
 && useradd --system --uid 10001 --gid ruc --create-home --home-dir /home/ruc --shell /usr/sbin/nologin ruc \
 && install -d -o ruc -g ruc /var/lib/ruc-scraper/unknown-pages
COPY --from=builder /src/target/release/scraper /usr/local/bin/scraper
# The pages the scraper could not read, kept for diagnosis (see the http image).
VOLUME ["/var/lib/ruc-scraper/unknown-pages"]
# Numeric, so that Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
ENV SCRAPER_LISTEN=0.0.0.0:8001 \
    SCRAPER_UNKNOWN_PAGES_DIR=/var/lib/ruc-scraper/unknown-pages \
    RUST_LOG=info
EXPOSE 8001
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/scraper", "--healthcheck"]
# SIGTERM: finish lookups in flight, close the browsers, stop chromedriver.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/scraper"]
