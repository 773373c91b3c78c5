#!/usr/bin/env bash
# Several nodes on one PostgreSQL, release build, all in one run on this machine:
#  1. time to /readyz and resident memory of a node on a campaign that already has 0, 1 million
#     and 10 million cards in the database;
#  2. durable HTTP claims/s straight to one node, and through nginx to 1, 2 and 3 nodes, with how
#     often the campaign row was written per node per second (leases, not batches);
#  3. with BASELINE=REV, the same single-node figure for a build of REV, as the comparison.
#
#   Benchmarks/cluster.sh     # DURATION=6 CONNECTIONS=64 USERS=1600000 SIZES="0 1000000 10000000"
# Each of the eight measurements claims for its own eighth of the users, once each: claims/s
# counts the 201 answers only (a run that outruns its users shows the rest as non-201). The
# single-node runs alternate this build and the baseline, so neither gets the quieter moment.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-6}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
USERS=${USERS:-1600000}
SIZES=${SIZES:-"0 1000000 10000000"}
SECRET=benchmark-secret-0123456789abcdef0123456789

missing=()
for tool in wrk nginx; do command -v $tool >/dev/null || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
source scripts/postgres.sh
start_postgres
swift build -c release --product lantern >&2
BIN=$PWD/.build/release/lantern
if [ -n "${BASELINE:-}" ]; then
  git worktree add -f .build-baseline/tree "$BASELINE" >&2 2>/dev/null || git -C .build-baseline/tree checkout -q "$BASELINE"
  (cd .build-baseline/tree && swift build -c release --product lantern --scratch-path ../build >&2)
  BASE_BIN=$PWD/.build-baseline/build/release/lantern
fi
WORK=$(mktemp -d /tmp/lantern-cluster-bench.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  sleep 0.5
  rm -rf "$WORK"
  stop_postgres
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now_ms() { date +%s%3N; }
db_url() { echo "${LANTERN_TEST_POSTGRES_URL%/*}/$1"; }
sql() { psql "$LANTERN_TEST_POSTGRES_URL" -Atqc "$1"; }

# Starts a node on database $1 at port $2 named $3 (extra flags after); sets NODE_PID.
start_node() {
  local db=$1 port=$2 node=$3; shift 3
  # A baseline build from before several nodes could share a database has no --node-id.
  local name=(--node-id "$node")
  [ -n "${NODE_BIN:-}" ] && name=()
  "${NODE_BIN:-$BIN}" serve --database "$(db_url "$db")" --port "$port" "${name[@]}" --jwt-secret "$SECRET" \
    --admission off --riders 0 --log-level error "$@" &
  NODE_PID=$!
  PIDS+=("$NODE_PID")
}
wait_ready() { for _ in $(seq 1200); do curl -sf "http://127.0.0.1:$1/readyz" >/dev/null && return; sleep 0.05; done; echo "node on $1 never ready" >&2; exit 1; }
stop_node() { kill "$1"; wait "$1" 2>/dev/null || true; }

echo "minting $USERS user tokens…" >&2
"$BIN" token --user bench --count "$USERS" --jwt-secret "$SECRET" > "$WORK/tokens"

echo "== a node starting on a campaign with cards already in PostgreSQL =="
printf '%-14s %14s %16s\n' "cards" "ready in (s)" "resident (MB)"
for size in $SIZES; do
  db="bench_start_$size"
  sql "DROP DATABASE IF EXISTS $db" && sql "CREATE DATABASE $db"
  port=$(free_port)
  start_node "$db" "$port" seed
  wait_ready "$port"
  stop_node "$NODE_PID"
  if [ "$size" -gt 0 ]; then
    psql "$(db_url "$db")" -qc "
      INSERT INTO cards (campaign, owner, ordinal, kind, value_fen, issued_at_ms, idempotency_key, digest_high, digest_low)
      SELECT 'spring-festival', 'earlier' || g, 0, 0, 2500, 0, 'k' || g, 1, 1 FROM generate_series(1, $size) g;
      UPDATE campaigns SET remaining_fen = remaining_fen - $size::int8 * 2500,
        outstanding_fen = outstanding_fen + $size::int8 * 2500, cards_issued = $size WHERE id = 'spring-festival';" >&2
    psql "$(db_url "$db")" -qc "VACUUM ANALYZE cards" >&2
  fi
  port=$(free_port)
  started=$(now_ms)
  start_node "$db" "$port" reader
  wait_ready "$port"
  ready=$(( $(now_ms) - started ))
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$NODE_PID/status")
  printf '%-14s %14.2f %16.1f\n' "$size" "$(echo "$ready / 1000" | bc -l)" "$(echo "$rss / 1024" | bc -l)"
  stop_node "$NODE_PID"
  sql "DROP DATABASE $db"
done

# Claims/s through nginx to the first N of the given ports; prints rate and campaign-row writes.
LB_PORT=$(free_port)
through_nginx() {
  local label=$1; shift
  local servers=""
  for port in "$@"; do servers+="server 127.0.0.1:$port; "; done
  cat > "$WORK/nginx.conf" <<EOF
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log error;
events { worker_connections 4096; }
http {
  access_log off;
  upstream lantern { $servers keepalive 128; }
  server {
    listen 127.0.0.1:$LB_PORT;
    location / { proxy_pass http://lantern; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
EOF
  nginx -c "$WORK/nginx.conf" -p "$WORK" -g 'daemon on;'
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$LB_PORT/healthz" >/dev/null && break; sleep 0.05; done
  measure "$label" "$LB_PORT" "$#"
  kill "$(cat "$WORK/nginx.pid")"; sleep 0.3
}

# Runs wrk's claim load at port $2 and prints claims/s and campaign-row writes per node per second.
measure() {
  local label=$1 port=$2 nodes=$3
  local before after
  before=$(psql "$(db_url bench_rush)" -Atqc "SELECT pg_stat_force_next_flush(); SELECT n_tup_upd FROM pg_stat_user_tables WHERE relname = 'campaigns'" | tail -1)
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" -s Benchmarks/claims.lua "http://127.0.0.1:$port" \
    -- "$WORK/tokens.$OFFSET" "$THREADS" > "$WORK/wrk.txt"
  sleep 1
  after=$(psql "$(db_url bench_rush)" -Atqc "SELECT pg_stat_force_next_flush(); SELECT n_tup_upd FROM pg_stat_user_tables WHERE relname = 'campaigns'" | tail -1)
  printf '%-44s %10.0f claims/s  %6.2f campaign-row writes/node/s  (non-201: %s)\n' "$label" "$(created_rate)" \
    "$(echo "($after - $before) / $DURATION / $nodes" | bc -l)" "$(non_created)"
}

# 201 answers per second in the last wrk run, and the other answers.
non_created() { awk '/Non-2xx or 3xx responses:/ {n = $5} END {print n + 0}' "$WORK/wrk.txt"; }
created_rate() {
  awk -v other="$(non_created)" '/requests in/ {n = $1; sub(/s,?$/, "", $4); t = $4} END {printf "%.0f", (n - other) / t}' "$WORK/wrk.txt"
}

# Each measurement claims for users nobody has claimed for yet.
slice_tokens() {
  OFFSET=$1
  awk -v from=$(( $1 * USERS / 8 )) -v to=$(( ($1 + 1) * USERS / 8 )) 'NR > from && NR <= to' "$WORK/tokens" > "$WORK/tokens.$1"
}

sql "CHECKPOINT"

# One node straight from wrk, on a fresh database: this build, and with BASELINE the baseline's.
single_pg() {
  local label=$1 slice=$2
  sql "DROP DATABASE IF EXISTS bench_rush" && sql "CREATE DATABASE bench_rush"
  local port
  port=$(free_port)
  start_node bench_rush "$port" single; wait_ready "$port"
  slice_tokens "$slice"; measure "$label" "$port" 1
  stop_node "$NODE_PID"
}
echo
echo "== durable HTTP claims on PostgreSQL, $CONNECTIONS connections, ${DURATION}s each, $(nproc) cores =="
for round in 1 2; do
  single_pg "one node, this build (round $round)" $(( round - 1 ))
  if [ -n "${BASE_BIN:-}" ]; then NODE_BIN=$BASE_BIN single_pg "one node, baseline $BASELINE (round $round)" $(( round + 1 )); fi
done
sql "DROP DATABASE IF EXISTS bench_rush" && sql "CREATE DATABASE bench_rush"
P1=$(free_port); P2=$(free_port); P3=$(free_port)
start_node bench_rush "$P1" n1; N1=$NODE_PID; wait_ready "$P1"
start_node bench_rush "$P2" n2 --no-seed; N2=$NODE_PID
start_node bench_rush "$P3" n3 --no-seed; N3=$NODE_PID
wait_ready "$P2"; wait_ready "$P3"
slice_tokens 4; through_nginx "nginx, 1 node" "$P1"
slice_tokens 5; through_nginx "nginx, 2 nodes" "$P1" "$P2"
slice_tokens 6; through_nginx "nginx, 3 nodes" "$P1" "$P2" "$P3"
stop_node "$N1"; stop_node "$N2"; stop_node "$N3"
echo "campaign row after the runs (remaining + leased + outstanding + spent = budget):"
psql "$(db_url bench_rush)" -Atqc "SELECT remaining_fen, leased_fen, outstanding_fen, spent_fen, budget_fen, cards_issued FROM campaigns" | sed 's/^/  /'


# One node on embedded SQLite, this build and (with BASELINE) the baseline's, alternated.
sqlite_claims() {
  local bin=$1 label=$2 port
  port=$(free_port)
  rm -f "$WORK"/single.sqlite*
  "$bin" serve --database "sqlite:$WORK/single.sqlite" --port "$port" --jwt-secret "$SECRET" --riders 0 --log-level error &
  local pid=$!
  PIDS+=("$pid")
  wait_ready "$port"
  # Half the time of the PostgreSQL runs: a sixth of the users lasts a node on SQLite about that long.
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$(( (DURATION + 1) / 2 ))s" -s Benchmarks/claims.lua "http://127.0.0.1:$port" \
    -- "$WORK/tokens.7" "$THREADS" > "$WORK/wrk.txt"
  printf '%-44s %10.0f claims/s  (non-201: %s)\n' "$label" "$(created_rate)" "$(non_created)"
  stop_node "$pid"
}
echo
echo "== durable HTTP claims on embedded SQLite, one node =="
slice_tokens 7
for round in 1 2; do
  sqlite_claims "$BIN" "SQLite, this build (round $round)"
  if [ -n "${BASE_BIN:-}" ]; then sqlite_claims "$BASE_BIN" "SQLite, baseline $BASELINE (round $round)"; fi
done
