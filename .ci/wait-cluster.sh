#!/usr/bin/env bash
# Waits (up to 60 s) until the controller at $1 reports a leader, then prints the summary.
set -euo pipefail
url=${1:-http://127.0.0.1:4000} user=${2:-admin} pass=${3:-admin}
for _ in $(seq 1 120); do
  if ./bin/drove -e "$url" -u "$user" -p "$pass" cluster summary 2>/dev/null | grep -qv 'Leader election underway'; then
    ./bin/drove -e "$url" -u "$user" -p "$pass" cluster summary
    exit 0
  fi
  sleep 0.5
done
echo "cluster at $url has no leader after 60 s" >&2
exit 1
