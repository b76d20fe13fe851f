#!/usr/bin/env bash
# Test peer: Prometheus' promtool (its `check metrics` linter), built once from the Go module proxy and cached.
#
#   promtool.sh install     build promtool if the cache lacks it; the last stdout line is the binary's path
#   promtool.sh path        the cached binary's path (exit 1 when it is not installed)
#
# The build is `go install github.com/prometheus/prometheus/cmd/promtool@<module version>` (Go >= 1.26, which the
# pinned release's go.mod asks for) with the `remove_all_sd` tag: the service-discovery plugins (cloud SDKs), which
# `check metrics` never uses, stay out, which halves the build. The binary lands in
# ${XDG_CACHE_HOME:-$HOME/.cache}/slowdrip/promtool/<version>/promtool beside install.json ({version, sha256});
# later runs re-check the sha256 and rebuild when it differs. Parallel installs wait for one another (flock).
set -euo pipefail

# Prometheus 3.16.0 is module version v0.316.0 (the module's tags are v0.<major*100+minor>.<patch>).
PROMETHEUS_VERSION=3.16.0
MODULE_VERSION=v0.316.0
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/slowdrip/promtool"
DIR="$CACHE/$MODULE_VERSION"
BIN="$DIR/promtool"

die() { echo "promtool.sh: $*" >&2; exit 1; }

find_go() {
  local g
  for g in "$(command -v go 2>/dev/null || true)" /usr/local/go/bin/go /usr/lib/go/bin/go; do
    [[ -n "$g" && -x "$g" ]] && { echo "$g"; return 0; }
  done
  return 1
}

installed() {
  [[ -x "$BIN" && -f "$DIR/install.json" ]] || return 1
  local want have
  want="$(sed -n 's/.*"sha256": *"\([0-9a-f]*\)".*/\1/p' "$DIR/install.json")"
  have="$(sha256sum "$BIN" | cut -d' ' -f1)"
  [[ -n "$want" && "$want" == "$have" ]]
}

install() {
  mkdir -p "$CACHE"
  exec 9>"$CACHE/.lock"
  flock 9
  if installed; then echo "$BIN"; return 0; fi
  local go ver
  go="$(find_go)" || die "no Go toolchain found (need Go >= 1.26 on PATH or in /usr/local/go/bin)"
  ver="$("$go" env GOVERSION)"
  [[ "$ver" =~ ^go1\.([0-9]+) ]] && (( BASH_REMATCH[1] >= 26 )) || die "need Go >= 1.26, found $ver ($go)"
  tmp="$(mktemp -d "$CACHE/build.XXXXXX")"
  trap 'rm -rf "${tmp:-}"' EXIT
  echo "promtool.sh: building promtool $PROMETHEUS_VERSION from the Go module proxy (first run only; several minutes)" >&2
  # Release builds stamp their version through prometheus/common's version package; so does this one.
  GOBIN="$tmp" GOFLAGS= "$go" install -trimpath -tags remove_all_sd \
    -ldflags "-X github.com/prometheus/common/version.Version=$PROMETHEUS_VERSION" \
    "github.com/prometheus/prometheus/cmd/promtool@$MODULE_VERSION" >&2 \
    || die "go install github.com/prometheus/prometheus/cmd/promtool@$MODULE_VERSION failed"
  "$tmp/promtool" --version 2>&1 | grep -q "version $PROMETHEUS_VERSION " || die "the built promtool does not report version $PROMETHEUS_VERSION: $("$tmp/promtool" --version 2>&1 | head -1)"
  mkdir -p "$DIR"
  mv -f "$tmp/promtool" "$BIN.new"
  mv -f "$BIN.new" "$BIN"
  printf '{"version": "%s", "module_version": "%s", "sha256": "%s", "go": "%s"}\n' \
    "$PROMETHEUS_VERSION" "$MODULE_VERSION" "$(sha256sum "$BIN" | cut -d' ' -f1)" "$ver" > "$DIR/install.json"
  flock -u 9
  echo "$BIN"
}

case "${1:-}" in
  install) install ;;
  path) installed && echo "$BIN" || die "promtool $PROMETHEUS_VERSION is not installed (run: bash test/peers/promtool.sh install)" ;;
  *) die "usage: promtool.sh install|path" ;;
esac
