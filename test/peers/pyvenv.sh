# Shared by the Python test peers (mints.sh, relay.sh): a cached, locked venv install, a free loopback port, and
# stopping a process by its PID file. Sourced; the caller defines die().

# Prints the first Python 3.10 .. 3.MAX_MINOR with the venv module (pyenv builds included); fails when there is none.
pyvenv_find_python() { # max-minor
  local c max="$1"
  for c in python3.12 python3.11 python3.10 python3 /root/.pyenv/versions/3.12*/bin/python3 /root/.pyenv/versions/3.11*/bin/python3; do
    if command -v "$c" >/dev/null 2>&1 && "$c" -c "import sys, venv; sys.exit(0 if (3, 10) <= sys.version_info[:2] <= (3, $max) else 1)" 2>/dev/null; then
      command -v "$c"; return 0
    fi
  done
  return 1
}

# Installs the pinned requirement SPEC (with CONSTRAINTS) into VENV once, under a lock so that parallel test files
# wait for one installer; BIN is the executable whose presence (with .complete) means the venv is done. Prints VENV.
pyvenv_install() { # venv bin spec constraints max-minor
  local venv="$1" bin="$2" spec="$3" constraints="$4" max="$5"
  mkdir -p "$(dirname "$venv")"
  exec 9>"$venv.lock"
  flock 9
  if [[ -x "$venv/bin/$bin" && -f "$venv/.complete" ]]; then flock -u 9; echo "$venv"; return 0; fi
  local py; py="$(pyvenv_find_python "$max")" || die "need Python 3.10-3.$max with the venv module (apt-get install python3 python3-venv)"
  rm -rf "$venv"
  "$py" -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check "$spec" -c "$constraints" >&2 \
    || { rm -rf "$venv"; die "pip install $spec failed"; }
  touch "$venv/.complete"
  flock -u 9
  echo "$venv"
}

# Prints a free TCP port on 127.0.0.1 (asked of the venv's Python).
pyvenv_free_port() { # venv
  "$1/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Stops the process named in a PID file (SIGTERM, 5 s, then SIGKILL) and removes the file; no file: nothing to do.
stop_pidfile() { # file
  local f="$1" pid
  [[ -f "$f" ]] || return 0
  pid="$(cat "$f")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}
