#!/usr/bin/env bash
# Enforces the layering described in DEVELOPERS.md / docs/architecture.md:
#   cmd -> server/agent -> scheduler/fsm/cluster -> fsm/model
# fsm and scheduler never import server, cluster, agent or cmd; fsm/model
# imports only the standard library; cluster imports no drove package but
# cluster/gossip; agent never imports server.
set -euo pipefail
cd "$(dirname "$0")/.."
mod=$(go list -m)
fail=0

forbid() { # forbid PKG_DIR REGEX REASON
  local dir=$1 re=$2 why=$3
  [ -d "$dir" ] || return 0
  ls "$dir"/*.go >/dev/null 2>&1 || [ -n "$(find "$dir" -name '*.go' -print -quit)" ] || return 0
  local bad
  bad=$(go list -deps "./$dir/..." | grep -E "$re" | grep -v -E "^$mod/$dir(/|$)" || true)
  if [ -n "$bad" ]; then
    echo "layering violation: $dir $why:"; echo "$bad" | sed 's/^/  /'; fail=1
  fi
}

forbid fsm       "^$mod/(server|cluster|agent|cmd|scheduler)(/|$)" "must not import server, cluster, agent, scheduler or cmd"
forbid scheduler "^$mod/(server|cluster|agent|cmd)(/|$)"           "must not import server, cluster, agent or cmd"
forbid cluster   "^$mod/(server|agent|cmd|fsm|scheduler)(/|$)"     "must not import server, agent, cmd, fsm or scheduler"
forbid agent     "^$mod/(server|cmd)(/|$)"                         "must not import server or cmd"
forbid server    "^$mod/(cmd|agent)(/|$)"                          "must not import cmd or agent"

# fsm/model is a leaf: standard library only.
if [ -d fsm/model ]; then
  bad=$(go list -deps -f '{{if not .Standard}}{{.ImportPath}}{{end}}' ./fsm/model | grep -v -E "^$mod/fsm/model$" || true)
  if [ -n "$bad" ]; then echo "layering violation: fsm/model must import only the standard library:"; echo "$bad" | sed 's/^/  /'; fail=1; fi
fi
[ $fail -eq 0 ] && echo "depcheck: layering OK"
exit $fail
