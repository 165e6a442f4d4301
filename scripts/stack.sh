#!/usr/bin/env bash
# The whole stack on this machine, without Docker: Redis (unless one already
# answers at REDIS_URL), the scraper with its own chromedriver, and the proxy.
#
#   scripts/stack.sh        against SUNAT's real site      (make run)
#   scripts/stack.sh demo   against the bundled replica, offline, then shows
#                           a lookup answered as MISS and then as HIT (make demo)
#
# Prints where each service listens, tails their logs, and stops all of them
# on Ctrl-C. Settings: the services' own variables (README), plus
# STACK_DIR (default .stack: logs and Redis data), STACK_PROFILE (release)
# and STACK_BIN_DIR (use binaries from there instead of building).
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-run}
[[ $mode == run || $mode == demo ]] || { echo "usage: $0 [run|demo]" >&2; exit 2; }

export PROXY_LISTEN=${PROXY_LISTEN:-0.0.0.0:8000}
export METRICS_LISTEN=${METRICS_LISTEN:-0.0.0.0:9091}
export SCRAPER_LISTEN=${SCRAPER_LISTEN:-127.0.0.1:8001}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
export REPLICA_LISTEN=${REPLICA_LISTEN:-127.0.0.1:8002}
export SCRAPER_URL=${SCRAPER_URL:-http://${SCRAPER_LISTEN/0.0.0.0/127.0.0.1}}
state=$(mkdir -p "${STACK_DIR:-.stack}" && cd "${STACK_DIR:-.stack}" && pwd)
logs=$state/logs
mkdir -p "$logs"

local_url() { echo "http://${1/0.0.0.0/127.0.0.1}"; }

# --- binaries -----------------------------------------------------------
if [[ -n ${STACK_BIN_DIR:-} ]]; then
  bin=$STACK_BIN_DIR
else
  ./scripts/install-deps.sh
  profile=${STACK_PROFILE:-release}
  bins=(--bin proxy --bin scraper)
  [[ $mode == demo ]] && bins+=(--bin sunat-replica)
  echo "stack: building ($profile)…"
  cargo build --profile "$profile" "${bins[@]}"
  [[ $profile == dev ]] && profile=debug
  bin=target/$profile
fi

# --- process management -------------------------------------------------
names=() pids=()
start() { # name command…   (own session: Ctrl-C reaches only this script)
  local name=$1; shift
  setsid "$@" >"$logs/$name.log" 2>&1 &
  names+=("$name") pids+=($!)
}
stop_all() {
  trap - EXIT INT TERM
  echo; echo "stack: stopping…"
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[i]}" 2>/dev/null || true
    for _ in $(seq 1 600); do kill -0 "${pids[i]}" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "${pids[i]}" 2>/dev/null || true
    echo "stack: ${names[i]} stopped"
  done
  [[ -n ${tail_pid:-} ]] && kill "$tail_pid" 2>/dev/null || true
}
trap stop_all EXIT
trap 'exit 130' INT TERM

wait_for() { # name url seconds
  for _ in $(seq 1 $(($3 * 10))); do
    curl -fsS -o /dev/null "$2" 2>/dev/null && return 0
    kill -0 "${pids[-1]}" 2>/dev/null || { echo "stack: $1 exited; see $logs/$1.log" >&2; tail -20 "$logs/$1.log" >&2; exit 1; }
    sleep 0.1
  done
  echo "stack: $1 did not answer $2 within $3 s; see $logs/$1.log" >&2
  exit 1
}

# --- Redis --------------------------------------------------------------
if redis-cli -u "$REDIS_URL" ping >/dev/null 2>&1; then
  echo "stack: using the Redis that answers at $REDIS_URL"
else
  hostport=${REDIS_URL#redis://}; hostport=${hostport%%/*}; hostport=${hostport##*@}
  host=${hostport%%:*}; port=${hostport##*:}; [[ $port == "$hostport" ]] && port=6379
  [[ $host == 127.0.0.1 || $host == localhost ]] || { echo "stack: nothing answers at $REDIS_URL" >&2; exit 1; }
  mkdir -p "$state/redis"
  start redis redis-server --port "$port" --bind 127.0.0.1 --dir "$state/redis" --appendonly yes
  for _ in $(seq 1 100); do redis-cli -u "$REDIS_URL" ping >/dev/null 2>&1 && break; sleep 0.1; done
  redis-cli -u "$REDIS_URL" ping >/dev/null || { echo "stack: redis-server did not start; see $logs/redis.log" >&2; exit 1; }
fi

# --- SUNAT replica (demo) -------------------------------------------------
if [[ $mode == demo ]]; then
  export SUNAT_URL=$(local_url "$REPLICA_LISTEN")
  start replica "$bin/sunat-replica"
  wait_for replica "$SUNAT_URL/cl-ti-itmrconsruc/FrameCriterioBusquedaWeb.jsp" 30
fi

# --- scraper and proxy ----------------------------------------------------
start scraper "$bin/scraper"
wait_for scraper "$(local_url "$SCRAPER_LISTEN")/health" 90
start proxy "$bin/proxy" -c conf/proxy.yaml
proxy_url=$(local_url "$PROXY_LISTEN")
wait_for proxy "$proxy_url/health" 30

cat <<INFO

stack: ready
  proxy    $proxy_url/obtener-ruc/<ruc>   (health: /health)
  metrics  $(local_url "$METRICS_LISTEN")/metrics
  scraper  $(local_url "$SCRAPER_LISTEN")   (SUNAT: ${SUNAT_URL:-https://e-consultaruc.sunat.gob.pe})
  redis    $REDIS_URL
  logs     $logs/
INFO

demo_lookup() {
  echo "\$ curl -s -o /dev/null -w '%{http_code} X-Cache: %header{x-cache}\\n' $proxy_url/obtener-ruc/20440374248"
  curl -s -o /dev/null -w '%{http_code} X-Cache: %header{x-cache}\n' "$proxy_url/obtener-ruc/20440374248"
}
if [[ $mode == demo ]]; then
  echo
  demo_lookup
  # The record is written to Redis right after the answer; wait for it.
  for _ in $(seq 1 50); do
    [[ $(redis-cli -u "$REDIS_URL" TTL sunat:ruc:20440374248) -gt 0 ]] && break
    sleep 0.1
  done
  echo "\$ redis-cli TTL sunat:ruc:20440374248"
  redis-cli -u "$REDIS_URL" TTL sunat:ruc:20440374248
  demo_lookup
fi

echo; echo "stack: tailing logs; Ctrl-C stops everything"; echo
tail -n 0 -F "$logs"/*.log &
tail_pid=$!
wait "$tail_pid"
