#!/usr/bin/env bash
# Durable claims over HTTP on loopback against the same server's /healthz, and against the
# alternative users would build instead (a Redis Lua script with appendfsync always), all in
# one run on this machine. Prints the figures and the ratios.
#
#   Benchmarks/http-claims.sh            # DURATION=10 CONNECTIONS=64 USERS=800000 by default
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
USERS=${USERS:-800000}
SECRET=benchmark-secret-0123456789abcdef0123456789

if ! command -v wrk >/dev/null || ! command -v redis-server >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk redis-server >/dev/null
  else
    echo "needs wrk and redis-server (apt-get install wrk redis-server)" >&2
    exit 1
  fi
fi
swift build -c release --product lantern >&2
BIN=.build/release/lantern
WORK=$(mktemp -d /tmp/lantern-http-bench.XXXXXX)
SERVER_PID=
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
  [ -f "$WORK/redis.pid" ] && kill "$(cat "$WORK/redis.pid")" 2>/dev/null || true
  sleep 0.5
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rate_of() { awk '/^Requests\/sec:/ {print $2}' "$1"; }

echo "minting $USERS user tokens…" >&2
"$BIN" token --user bench --count "$USERS" --jwt-secret "$SECRET" > "$WORK/tokens"

PORT=$(free_port)
"$BIN" serve --port "$PORT" --database "sqlite:$WORK/bench.sqlite" --jwt-secret "$SECRET" --log-level error &
SERVER_PID=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.1; done

wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" "http://127.0.0.1:$PORT/healthz" > "$WORK/healthz.txt"
wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -s Benchmarks/claims.lua "http://127.0.0.1:$PORT" \
  -- "$WORK/tokens" "$THREADS" > "$WORK/claims.txt"
kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=
"$BIN" audit --database "sqlite:$WORK/bench.sqlite" > "$WORK/audit.txt"

RPORT=$(free_port)
redis-server --port "$RPORT" --dir "$WORK" --appendonly yes --appendfsync always --save "" \
  --daemonize yes --pidfile "$WORK/redis.pid" --logfile "$WORK/redis.log"
for _ in $(seq 50); do redis-cli -p "$RPORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
redis-cli -p "$RPORT" SET budget 300000000000 >/dev/null
SHA=$(redis-cli -p "$RPORT" SCRIPT LOAD "$(cat Benchmarks/redis-claim.lua)")
REDIS_N=$(( $(rate_of "$WORK/claims.txt" | cut -d. -f1) * DURATION ))
[ "$REDIS_N" -lt 100000 ] && REDIS_N=100000
redis-benchmark -p "$RPORT" -c "$CONNECTIONS" -n "$REDIS_N" -r 1000000000 --csv \
  EVALSHA "$SHA" 2 budget holders user:__rand_int__ 2500 > "$WORK/redis.csv"
REDIS_RATE=$(tail -n 1 "$WORK/redis.csv" | cut -d, -f2 | tr -d '"')

HEALTH=$(rate_of "$WORK/healthz.txt")
CLAIMS=$(rate_of "$WORK/claims.txt")
CREATED=$(sed -n 's/^campaign spring-festival: .*; \([0-9]*\) cards,.*/\1/p' "$WORK/audit.txt")
NON2XX=$(awk '/^  Non-2xx or 3xx responses:/ {print $5}' "$WORK/claims.txt")
echo "HTTP on loopback, $CONNECTIONS connections, $THREADS wrk threads, ${DURATION}s each, $(nproc) cores"
printf '%-58s %10.0f req/s\n' "GET /healthz" "$HEALTH"
printf '%-58s %10.0f req/s  (%s cards created)\n' "POST claims (durable, SQLite synchronous=FULL)" "$CLAIMS" "$CREATED"
echo "  answers other than 201: ${NON2XX:-0}"
printf '%-58s %10.0f req/s\n' "Redis Lua claim, appendfsync always (redis-benchmark)" "$REDIS_RATE"
grep -E "^ +(50|99|99.9)%" "$WORK/claims.txt" | sed 's/^/  claim latency /'
awk -v c="$CLAIMS" -v h="$HEALTH" -v r="$REDIS_RATE" 'BEGIN {
  printf "ratio claims / healthz: %.2f\n", c / h
  printf "ratio claims / Redis script: %.2f\n", c / r }'
tail -n 1 "$WORK/audit.txt"
