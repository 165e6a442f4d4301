#!/usr/bin/env bash
# Hit-path benchmark of the proxy, next to nginx's proxy_cache serving the
# same record from its cache (run with `make bench-proxy`).
#
# Both answer GET /obtener-ruc/20440374248 from their cache: the proxy from
# Redis (one GET + PTTL per request), nginx from its disk cache. wrk runs on
# the same machine: 1 thread, 32 connections, then 1 connection (latency).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${BENCH_DURATION:-10s}
RUC=20440374248
work=$(mktemp -d /tmp/ruc-bench-proxy.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  [[ -f $work/nginx.pid ]] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The record the scraper gives for the captured page (as served by the proxy).
python3 - "$work/record.json" <<'PY'
import json, sys
records = json.load(open("tests/pages/captured/expected.json"))["records"]
record = dict(records["20440374248"], consultadoEn="2026-11-26T13:00:00Z")
open(sys.argv[1], "w").write(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
PY

redis_port=$(free_port); proxy_port=$(free_port); metrics_port=$(free_port)
nginx_port=$(free_port); origin_port=$(free_port)

redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no >/dev/null &
pids+=($!)
until redis-cli -p "$redis_port" ping >/dev/null 2>&1; do sleep 0.05; done
redis-cli -p "$redis_port" -x SET "sunat:ruc:$RUC" <"$work/record.json" >/dev/null
redis-cli -p "$redis_port" EXPIRE "sunat:ruc:$RUC" 604800 >/dev/null

PROXY_LISTEN=127.0.0.1:$proxy_port METRICS_LISTEN=127.0.0.1:$metrics_port \
  REDIS_URL=redis://127.0.0.1:$redis_port SCRAPER_URL=http://127.0.0.1:9 RUST_LOG=warn \
  target/release/proxy -c conf/proxy.yaml 2>"$work/proxy.log" &
pids+=($!)

mkdir -p "$work/origin/obtener-ruc" "$work/cache"
cp "$work/record.json" "$work/origin/obtener-ruc/$RUC"
cat >"$work/nginx.conf" <<NGINX
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  proxy_cache_path $work/cache levels=1:2 keys_zone=ruc:10m;
  upstream origin { server 127.0.0.1:$origin_port; keepalive 16; }
  server {
    listen 127.0.0.1:$origin_port;
    root $work/origin;
    default_type application/json;
  }
  server {
    listen 127.0.0.1:$nginx_port;
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_cache ruc;
      proxy_cache_key \$uri;
      proxy_cache_valid 200 7d;
      proxy_cache_lock on;
      add_header X-Cache \$upstream_cache_status;
    }
  }
}
NGINX
# nginx's workers run as an unprivileged user when started as root.
chmod -R a+rwX "$work"
nginx -c "$work/nginx.conf" -p "$work"

until curl -sf "http://127.0.0.1:$proxy_port/obtener-ruc/$RUC" -o /dev/null; do sleep 0.1; done
for target in "127.0.0.1:$proxy_port" "127.0.0.1:$nginx_port"; do
  for _ in 1 2; do curl -s "http://$target/obtener-ruc/$RUC" -o /dev/null; done
  [[ $(curl -s -D- "http://$target/obtener-ruc/$RUC" -o /dev/null | grep -ci 'x-cache: hit') == 1 ]] \
    || { echo "$target does not serve hits" >&2; exit 1; }
  wrk -t1 -c32 -d2s "http://$target/obtener-ruc/$RUC" >/dev/null
done

run() { # name target connections
  local out rps p50 p99
  out=$(wrk -t1 -c"$3" -d"$DURATION" --latency "http://$2/obtener-ruc/$RUC")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  printf '| %s | %s | %s | %s | %s |\n' "$1" "$3" "$rps" "$p50" "$p99"
}
echo "| server | connections | requests/s | p50 | p99 |"
echo "|---|---|---|---|---|"
for connections in 32 1; do
  run "proxy (Redis hit)" "127.0.0.1:$proxy_port" "$connections"
  run "nginx proxy_cache (hit)" "127.0.0.1:$nginx_port" "$connections"
done
