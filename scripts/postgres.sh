# Starts a throwaway PostgreSQL server for Lantern's tests and benchmarks.
# Source it, then call start_postgres: it exports LANTERN_TEST_POSTGRES_URL and stops the
# server when the calling shell exits. Installs Debian's postgresql package when missing (as root).

find_pg_bin() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

start_postgres() {
  local bin
  bin=$(find_pg_bin)
  if [ -z "$bin" ]; then
    if [ "$(id -u)" = 0 ]; then
      echo "installing postgresql (Debian package)…" >&2
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
      bin=$(find_pg_bin)
    fi
    if [ -z "$bin" ]; then
      echo "PostgreSQL is not installed: apt-get install postgresql, or set LANTERN_TEST_POSTGRES_URL" >&2
      return 1
    fi
  fi
  PG_DIR=$(mktemp -d /tmp/lantern-pg.XXXXXX)
  local run_as=()
  if [ "$(id -u)" = 0 ]; then
    chown postgres:postgres "$PG_DIR"
    run_as=(runuser -u postgres --)
  fi
  local port=${LANTERN_PG_PORT:-54329}
  while (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null; do port=$((port + 1)); done
  "${run_as[@]}" "$bin/initdb" -D "$PG_DIR/data" -U postgres -A trust --no-sync >/dev/null
  "${run_as[@]}" "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w \
    -o "-p $port -k $PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=300 -c synchronous_commit=on -c fsync=on" \
    start >/dev/null
  PG_STOP=("${run_as[@]}" "$bin/pg_ctl" -D "$PG_DIR/data" -m fast stop)
  trap 'stop_postgres' EXIT
  export LANTERN_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"
  echo "PostgreSQL running at $LANTERN_TEST_POSTGRES_URL" >&2
}

stop_postgres() {
  if [ -n "${PG_DIR:-}" ]; then
    "${PG_STOP[@]}" >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
    PG_DIR=
  fi
}
