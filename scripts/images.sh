#!/usr/bin/env bash
# Builds the images, ruc-proxy, ruc-scraper and the small ruc-scraper-http,
# each tagged with its crate's version and `latest` (`make images`). Uses docker when its engine
# answers, else podman; CONTAINER_ENGINE=docker|podman chooses. Podman
# builds in Docker's image format, since the OCI format drops HEALTHCHECK
# and STOPSIGNAL.
set -euo pipefail
cd "$(dirname "$0")/.."

engine=${CONTAINER_ENGINE:-}
if [[ -z $engine ]]; then
  if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    engine=docker
  elif command -v podman >/dev/null 2>&1; then
    engine=podman
  else
    echo "images: no container engine: need docker with a running engine, or podman (apt-get install podman)" >&2
    exit 1
  fi
fi

flags=()
if [[ $engine == podman ]]; then
  flags+=(--format docker)
  # The stand-in of rust:1-bookworm (../shared/tools/container-standins)
  # expects this machine's CA bundle at /mnt/host-ca, because outbound TLS
  # is re-signed here; the real image does not, and gets no mount.
  if podman image inspect --format '{{.Config.Env}}' rust:1-bookworm 2>/dev/null | grep -q /mnt/host-ca; then
    flags+=(--volume /etc/ssl/certs:/mnt/host-ca:ro)
  fi
fi

version_of() {
  sed -n 's/^version = "\(.*\)"$/\1/p' "$1/Cargo.toml" | head -n 1
}

for service in proxy scraper; do
  version=$(version_of "$service")
  echo "images: building ruc-$service:$version with $engine"
  started=$SECONDS
  if ! "$engine" build "${flags[@]}" -f "Dockerfiles/$service.Dockerfile" \
      -t "ruc-$service:$version" -t "ruc-$service:latest" .; then
    echo "images: building ruc-$service failed; without an image registry, make the base images first:" \
      "../shared/tools/container-standins/make-standins.sh" >&2
    exit 1
  fi
  echo "images: ruc-$service:$version built in $((SECONDS - started)) s"
done

# The small scraper for SCRAPER_MODE=http: the same Dockerfile's `http`
# target (its builder stage is cached by now).
version=$(version_of scraper)
"$engine" build "${flags[@]}" -f Dockerfiles/scraper.Dockerfile --target http \
  -t "ruc-scraper-http:$version" -t ruc-scraper-http:latest .
echo "images: ruc-scraper-http:$version built"

