#!/usr/bin/env bash
# The crowd at the door: durable HTTP claims on SQLite with 64 connections (the capacity), then
# with 2,000 and 10,000 connections at once, each claiming, the capacity again after each, in
# one run (release build, wrk, every claim a new user). Prints answers/s against the mean
# capacity before and after, answers other than 2xx,
# requests over 1 s and over TIMEOUT (wrk gives a request up then), and latency p50/p99.
#
#   Benchmarks/connections.sh        # DURATION=10 TIMEOUT=3s USERS=1500000 by default
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
TIMEOUT=${TIMEOUT:-3s}
USERS=${USERS:-1500000}
SECRET=benchmark-secret-0123456789abcdef0123456789
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
ulimit -n "$(ulimit -Hn)"   # wrk and the server each hold every connection
# The kernel caps the server's accept queue (--listen-backlog, 16,384) at net.core.somaxconn,
# 4,096 by default: a crowd of 10,000 connecting at once overflows that, and the overflow's
# handshakes are retried a second later. Raise it (and the SYN queue) when allowed to.
for knob in net/core/somaxconn net/ipv4/tcp_max_syn_backlog; do
  if [ "$(cat /proc/sys/$knob)" -lt 16384 ]; then
    echo 16384 > /proc/sys/$knob 2>/dev/null || echo "note: $knob stays at $(cat /proc/sys/$knob) (not allowed to raise it)" >&2
  fi
done
swift build -c release --product lantern >&2
BIN=.build/release/lantern
WORK=$(mktemp -d /tmp/lantern-connections.XXXXXX)
SERVER_PID=
trap '[ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null; rm -rf "$WORK"' EXIT
"$BIN" token --user crowd --count "$USERS" --jwt-secret "$SECRET" > "$WORK/tokens"

# One load with $1 connections on a fresh store: rate, non-2xx, socket errors, p50, p99.
load() {
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  rm -f "$WORK"/store.sqlite*
  # All the crowd comes from 127.0.0.1 here: the per-address cap is lifted to let it in.
  "$BIN" serve --port "$port" --database "sqlite:$WORK/store.sqlite" --jwt-secret "$SECRET" --log-level error \
    --max-connections-per-address 60000 &
  SERVER_PID=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
  wrk -t2 -c"$1" -d"${DURATION}s" --timeout "$TIMEOUT" --latency -s Benchmarks/claims.lua "http://127.0.0.1:$port" \
    -- "$WORK/tokens" 2 > "$WORK/wrk.txt" 2>&1 || true
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=
  awk '/^Requests\/sec:/ {rate=$2} /Non-2xx/ {bad=$5} /timeout [0-9]+/ {late=$NF} /^Over 1 s:/ {slow=$4}
       /^ +50%/ {p50=$2} /^ +99%/ {p99=$2}
       END {printf "%s %s %s|%s|%s|%s\n", rate, (bad == "" ? 0 : bad), p50, p99, slow + (late == "" ? 0 : late), (late == "" ? 0 : late)}' \
    "$WORK/wrk.txt"
}

echo "durable claims on SQLite, $(nproc) cores, ${DURATION}s each, wrk gives up after $TIMEOUT"
# The capacity (64 connections) is measured before and after each crowd, and the crowd is set
# against the mean of the two: this machine's speed drifts by a tenth within minutes.
line() { # connections, load's answer, capacity
  local rate bad rest p50 p99 over1 over3
  read -r rate bad rest <<<"$2"
  IFS='|' read -r p50 p99 over1 over3 <<<"$rest"
  printf '%6d connections: %8.0f answers/s (%.2f of capacity), non-2xx %s, over 1 s %s, over %s %s, p50 %s, p99 %s\n' \
    "$1" "$rate" "$(awk -v r="$rate" -v c="$3" 'BEGIN {print r / c}')" "$bad" "$over1" "$TIMEOUT" "$over3" "$p50" "$p99"
}
before=$(load 64)
line 64 "$before" "${before%% *}"
for connections in 2000 10000; do
  crowd=$(load "$connections")
  after=$(load 64)
  line "$connections" "$crowd" "$(awk -v a="${before%% *}" -v b="${after%% *}" 'BEGIN {print (a + b) / 2}')"
  line 64 "$after" "${after%% *}"
  before=$after
done
