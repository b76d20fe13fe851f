#!/bin/sh
# Test peer: makes sure ffmpeg and ffprobe (Debian packages) are installed; prints ffmpeg's path on the last line.
set -eu
if ! command -v ffmpeg >/dev/null 2>&1 || ! command -v ffprobe >/dev/null 2>&1; then
  if [ "$(id -u)" != "0" ]; then
    echo "ffmpeg.sh: ffmpeg is missing and this user cannot apt-get install it (run: sudo apt-get install -y ffmpeg)" >&2
    exit 1
  fi
  echo "ffmpeg.sh: installing ffmpeg with apt-get" >&2
  # Serialise with other apt users; the lists are refreshed once if the package is unknown.
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends ffmpeg >&2; then
    apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends ffmpeg >&2
  fi
fi
command -v ffmpeg
