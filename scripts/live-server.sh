# Sourced by the live checks (mcp-check, api-check, browser-check): a Python venv with the
# packages a check names, and a debug `lantern serve` on a scratch SQLite store and a free port,
# stopped when the script exits. Sets $lantern, $port, $url and $venv.

# Creates (once) the venv .build/check-venv and installs the named PyPI packages into it.
check_venv() {
  venv=.build/check-venv
  if [ ! -x "$venv/bin/python" ]; then
    if ! python3 -m venv "$venv" 2>/dev/null; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
      python3 -m venv "$venv"
    fi
  fi
  "$venv/bin/pip" install -q --disable-pip-version-check "$@"
}

# Builds lantern, starts it with the given extra flags, and waits until /readyz answers.
start_lantern() {
  swift build --product lantern
  lantern=.build/debug/lantern
  work=$(mktemp -d)
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  url="http://127.0.0.1:$port"
  export LANTERN_JWT_SECRET="check-$(date +%s%N)-secret-0123456789"
  # The demo shops keep city hours; put the city at midday now, so the checks find them open
  # whenever they run.
  local utc_minute=$((10#$(date -u +%H) * 60 + 10#$(date -u +%M)))
  export LANTERN_CITY_UTC_OFFSET_MINUTES=$(( ((12 * 60 - utc_minute) % 1440 + 1440) % 1440 ))
  "$lantern" serve --database "sqlite:$work/lantern.sqlite" --port "$port" --log-level warning "$@" &
  server=$!
  trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$work"' EXIT
  python3 - "$port" <<'PY'
import sys, time, urllib.request
deadline = time.time() + 30
while True:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/readyz", timeout=1)
        break
    except Exception:
        if time.time() > deadline:
            sys.exit("the server did not become ready within 30 s")
        time.sleep(0.1)
PY
}
