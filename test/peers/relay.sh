#!/usr/bin/env bash
# Test peer: a real Nostr relay (PyPI nostr-relay, SQLite storage) on a loopback port, managed by PID.
#
#   relay.sh install          install nostr-relay into the cached venv, print the venv path
#   relay.sh start DIR        start one relay with its config and database under DIR, print its ws:// URL
#   relay.sh stop DIR         stop the relay started under DIR (by the PID it wrote)
#
# The relay checks every event's id and Schnorr signature (validator is_signed), rejects events older than a year or
# more than an hour in the future, and keeps only the newest replaceable / addressable event per (pubkey, kind[, d]).
# SLOWDRIP_RELAY_MAX_EVENT_SIZE sets the largest content it accepts, in characters (default 65536); SLOWDRIP_RELAY_PORT
# a fixed port instead of a free one (to restart a relay where its clients expect it).
set -euo pipefail

NOSTR_RELAY_VERSION=1.14
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/slowdrip"
VENV="$CACHE/nostr-relay-$NOSTR_RELAY_VERSION"

die() { echo "relay.sh: $*" >&2; exit 1; }

# shellcheck source=pyvenv.sh
source "$HERE/pyvenv.sh"

install() { pyvenv_install "$VENV" nostr-relay "nostr-relay==$NOSTR_RELAY_VERSION" "$HERE/nostr-relay-constraints.txt" 13; }
free_port() { pyvenv_free_port "$VENV"; }

wait_ready() { # http-url pid log
  "$VENV/bin/python" - "$1" "$2" "$3" <<'PY'
import os, sys, time, urllib.request
url, pid, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
deadline = time.time() + 60
while time.time() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.stderr.write(f"relay {url} exited during startup; last log lines:\n")
        sys.stderr.write("".join(open(log).readlines()[-20:]))
        sys.exit(1)
    try:
        req = urllib.request.Request(url, headers={"Accept": "application/nostr+json"})
        with urllib.request.urlopen(req, timeout=2) as r:
            if r.status == 200 and b"supported_nips" in r.read():
                sys.exit(0)
    except Exception:
        pass
    time.sleep(0.2)
sys.stderr.write(f"relay {url} did not answer its NIP-11 document within 60 s\n")
sys.exit(1)
PY
}

start() {
  local dir="$1" max="${SLOWDRIP_RELAY_MAX_EVENT_SIZE:-65536}"
  [[ "$max" =~ ^[0-9]+$ ]] || die "SLOWDRIP_RELAY_MAX_EVENT_SIZE must be a number"
  [[ -z "${SLOWDRIP_RELAY_PORT:-}" || "$SLOWDRIP_RELAY_PORT" =~ ^[0-9]{1,5}$ ]] || die "SLOWDRIP_RELAY_PORT must be a port number"
  install >/dev/null
  rm -rf "$dir/relay"; mkdir -p "$dir/relay"
  local r="$dir/relay" port
  port="${SLOWDRIP_RELAY_PORT:-$(free_port)}"
  cat >"$r/config.yaml" <<YAML
DEBUG: false
relay_name: slowdrip test relay
relay_description: nostr-relay $NOSTR_RELAY_VERSION for slowdrip tests
storage:
  sqlalchemy.url: sqlite+aiosqlite:///$r/nostr.sqlite3
  num_concurrent_reqs: 10
  num_concurrent_adds: 2
  validators:
    - nostr_relay.validators.is_not_too_large
    - nostr_relay.validators.is_signed
    - nostr_relay.validators.is_recent
verification:
  nip05_verification: disabled
gunicorn:
  bind: 127.0.0.1:$port
  workers: 1
  loglevel: warning
  reload: false
authentication:
  enabled: false
max_event_size: $max
message_timeout: 1800
subscription_limit: 32
max_limit: 6000
YAML
  (
    cd "$r"
    exec env -i PATH="$VENV/bin:/usr/bin:/bin" HOME="$r" LANG=C.UTF-8 \
      "$VENV/bin/nostr-relay" -c "$r/config.yaml" serve --use-uvicorn >"$r/log" 2>&1 </dev/null
  ) &
  echo $! >"$r/pid"
  echo "ws://127.0.0.1:$port" >"$r/url"
  wait_ready "http://127.0.0.1:$port/" "$(cat "$r/pid")" "$r/log" || { stop "$dir"; exit 1; }
  cat "$r/url"
}

stop() { stop_pidfile "$1/relay/pid"; }

case "${1:-}" in
  install) install ;;
  start) [[ $# -ge 2 ]] || die "usage: relay.sh start DIR"; start "$2" ;;
  stop) [[ $# -ge 2 ]] || die "usage: relay.sh stop DIR"; stop "$2" ;;
  *) die "usage: relay.sh install | start DIR | stop DIR" ;;
esac
