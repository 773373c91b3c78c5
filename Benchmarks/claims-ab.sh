#!/usr/bin/env bash
# Durable HTTP claims on SQLite, this build against a build of BASELINE, alternated ROUNDS times
# on fresh stores in one run (wrk, 64 connections, every claim a new user with their own token).
#
#   BASELINE=5b41c08 Benchmarks/claims-ab.sh      # ROUNDS=3 DURATION=8 USERS=600000 by default
set -euo pipefail
cd "$(dirname "$0")/.."
: "${BASELINE:?set BASELINE to the revision to compare with}"
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-8}
USERS=${USERS:-600000}
SECRET=benchmark-secret-0123456789abcdef0123456789
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
swift build -c release --product lantern >&2
BIN=$PWD/.build/release/lantern
git worktree add -f .build-baseline/tree "$BASELINE" >&2 2>/dev/null || git -C .build-baseline/tree checkout -q "$BASELINE"
(cd .build-baseline/tree && swift build -c release --product lantern --scratch-path ../build >&2)
BASE_BIN=$PWD/.build-baseline/build/release/lantern
WORK=$(mktemp -d /tmp/lantern-claims-ab.XXXXXX)
SERVER_PID=
trap '[ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null; rm -rf "$WORK"' EXIT
"$BIN" token --user bench --count "$USERS" --jwt-secret "$SECRET" > "$WORK/tokens"

# One round for one binary: prints claims/s and the answers other than 2xx.
claims() {
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  rm -f "$WORK"/store.sqlite*
  "$1" serve --port "$port" --database "sqlite:$WORK/store.sqlite" --jwt-secret "$SECRET" --log-level error &
  SERVER_PID=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
  wrk -t2 -c64 -d"${DURATION}s" -s Benchmarks/claims.lua "http://127.0.0.1:$port" -- "$WORK/tokens" 2 > "$WORK/wrk.txt"
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=
  printf '%10.0f claims/s, non-2xx %s' "$(awk '/^Requests\/sec:/ {print $2}' "$WORK/wrk.txt")" \
    "$(awk '/Non-2xx/ {print $5}' "$WORK/wrk.txt" | grep . || echo 0)"
}

for round in $(seq "$ROUNDS"); do
  echo "round $round: this build   $(claims "$BIN")"
  echo "round $round: $BASELINE  $(claims "$BASE_BIN")"
done
