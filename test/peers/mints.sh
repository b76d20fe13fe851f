#!/usr/bin/env bash
# Test peer: real Cashu mints (nutshell, FakeWallet Lightning backend) on loopback ports, managed by PID.
#
#   mints.sh install                      install nutshell into the cached venv, print the venv path
#   mints.sh start DIR N [FEE_PPK] [UNITS] start N independent mints under DIR, print one URL per line;
#                                         UNITS is "sat" (default) or "sat,usd" (adds a FakeWallet usd keyset)
#   mints.sh stop DIR                     stop the mints started under DIR (by the PIDs it wrote)
#
# Each mint gets its own empty working directory (nutshell reads .env from the cwd and ~/.cashu),
# its own database, a random private key and a free port on 127.0.0.1. FakeWallet settles mint
# quotes and pays melt invoices by itself, so no Lightning node is needed. Idle keep-alive connections stay open 75 s
# (uvicorn's default is 5 s), so that clients, which drop idle connections sooner, never reuse one the mint is closing.
set -euo pipefail

NUTSHELL_VERSION=0.19.2
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/slowdrip"
VENV="$CACHE/nutshell-$NUTSHELL_VERSION"

die() { echo "mints.sh: $*" >&2; exit 1; }

# shellcheck source=pyvenv.sh
source "$HERE/pyvenv.sh"

install() { pyvenv_install "$VENV" mint "cashu==$NUTSHELL_VERSION" "$HERE/nutshell-constraints.txt" 12; }
free_port() { pyvenv_free_port "$VENV"; }

wait_ready() { # url pid log
  "$VENV/bin/python" - "$1" "$2" "$3" <<'PY'
import os, sys, time, urllib.request
url, pid, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
deadline = time.time() + 60
while time.time() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.stderr.write(f"mint {url} exited during startup; last log lines:\n")
        sys.stderr.write("".join(open(log).readlines()[-20:]))
        sys.exit(1)
    try:
        with urllib.request.urlopen(url + "/v1/info", timeout=2) as r:
            if r.status == 200:
                sys.exit(0)
    except Exception:
        pass
    time.sleep(0.2)
sys.stderr.write(f"mint {url} did not answer /v1/info within 60 s\n")
sys.exit(1)
PY
}

start() {
  local dir="$1" n="$2" fee="${3:-0}" units="${4:-sat}"
  [[ "$n" =~ ^[0-9]+$ && "$n" -ge 1 && "$n" -le 16 ]] || die "N must be 1..16"
  [[ "$fee" =~ ^[0-9]+$ ]] || die "FEE_PPK must be a non-negative integer"
  [[ "$units" == "sat" || "$units" == "sat,usd" ]] || die "UNITS must be sat or sat,usd"
  local usd="" paths="[]"
  # nutshell reads a keyset's unit from its derivation path: m/0'/0'/0' is sat, m/0'/2'/0' is usd.
  [[ "$units" == "sat,usd" ]] && { usd="FakeWallet"; paths="[\"m/0'/0'/0'\", \"m/0'/2'/0'\"]"; }
  install >/dev/null
  mkdir -p "$dir"
  # Extra FakeWallet settings for fault tests, e.g. SLOWDRIP_MINT_EXTRA_ENV="FAKEWALLET_PAY_INVOICE_STATE=FAILED".
  local extra=() kv
  for kv in ${SLOWDRIP_MINT_EXTRA_ENV:-}; do
    [[ "$kv" =~ ^FAKEWALLET_[A-Z_]+=[A-Za-z0-9._-]*$ ]] || die "SLOWDRIP_MINT_EXTRA_ENV: only FAKEWALLET_*=value settings, got $kv"
    extra+=("$kv")
  done
  local i urls=()
  for ((i = 0; i < n; i++)); do
    local m="$dir/mint-$i"
    rm -rf "$m"; mkdir -p "$m/work" "$m/db"
    local port key url
    port="$(free_port)"
    key="$("$VENV/bin/python" -c 'import secrets; print(secrets.token_hex(32))')"
    url="http://127.0.0.1:$port"
    (
      cd "$m/work"
      exec env -i PATH="$VENV/bin:/usr/bin:/bin" HOME="$m/work" LANG=C.UTF-8 \
        MINT_BACKEND_BOLT11_SAT=FakeWallet MINT_BACKEND_BOLT11_USD="$usd" MINT_DERIVATION_PATH_LIST="$paths" \
        MINT_LISTEN_HOST=127.0.0.1 MINT_LISTEN_PORT="$port" \
        MINT_PRIVATE_KEY="$key" MINT_DATABASE="$m/db" \
        MINT_INPUT_FEE_PPK="$fee" \
        FAKEWALLET_BRR=true FAKEWALLET_DELAY_INCOMING_PAYMENT=0 FAKEWALLET_DELAY_OUTGOING_PAYMENT=0 \
        MINT_INFO_NAME="slowdrip test mint $i" "${extra[@]}" \
        "$VENV/bin/mint" --host 127.0.0.1 --port "$port" --timeout-keep-alive=75 >"$m/log" 2>&1 </dev/null
    ) &
    echo $! >"$m/pid"
    echo "$url" >"$m/url"
    urls+=("$url")
  done
  for ((i = 0; i < n; i++)); do
    wait_ready "$(cat "$dir/mint-$i/url")" "$(cat "$dir/mint-$i/pid")" "$dir/mint-$i/log" || { stop "$dir"; exit 1; }
  done
  printf '%s\n' "${urls[@]}"
}

stop() {
  local f
  for f in "$1"/mint-*/pid; do stop_pidfile "$f"; done
}

case "${1:-}" in
  install) install ;;
  start) [[ $# -ge 3 ]] || die "usage: mints.sh start DIR N [FEE_PPK] [UNITS]"; start "$2" "$3" "${4:-0}" "${5:-sat}" ;;
  stop) [[ $# -ge 2 ]] || die "usage: mints.sh stop DIR"; stop "$2" ;;
  *) die "usage: mints.sh install | start DIR N [FEE_PPK] [UNITS] | stop DIR" ;;
esac
