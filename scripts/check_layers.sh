#!/usr/bin/env bash
# Folder-level include-cycle check: builds the graph folder -> folder from the
# `#include "vigil/<folder>/..."` lines of src/vigil/<folder>/*.{h,cc} (tests and test helpers
# left out, since a test may legitimately pull in a later stage as a fixture) and fails when the
# graph has a cycle. A cycle between stage folders means the "one folder per stage" layering is
# broken: the libraries can then only link in one order by accident.
# Usage: scripts/check_layers.sh [src/vigil]   (exit 0 = acyclic, 1 = cycles printed)
set -euo pipefail
root="${1:-$(cd "$(dirname "$0")/.." && pwd)/src/vigil}"
[[ -d "$root" ]] || { echo "check_layers: no folder $root" >&2; exit 2; }

edges="$(mktemp)"; trap 'rm -f "$edges"' EXIT
for dir in "$root"/*/; do
  from="$(basename "$dir")"
  for f in "$dir"*.h "$dir"*.cc; do
    [[ -e "$f" ]] || continue
    case "$(basename "$f")" in
      *_test.cc|*_test.h|*test_util*|testing.h|testing.cc) continue ;;
    esac
    sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"vigil\/\([^/"]*\)\/.*/\1/p' "$f" |
      while read -r to; do
        if [[ "$to" != "$from" ]]; then echo "$from $to"; fi
      done
  done
done | sort -u > "$edges"

# Every cycle of the folder graph lies inside one strongly connected component; report each
# non-trivial component with one concrete cycle through it (found by depth-first search).
awk '
  { adj[$1] = adj[$1] " " $2; nodes[$1]; nodes[$2] }
  function dfs(u, depth,    n, i, v, list) {
    path[depth] = u; onpath[u] = depth; seen[u] = 1
    n = split(adj[u], list, " ")
    for (i = 1; i <= n; i++) {
      v = list[i]
      if (v in onpath) {
        s = ""
        for (k = onpath[v]; k <= depth; k++) s = s path[k] " -> "
        cyc = s v
        key = canon(onpath[v], depth)
        if (!(key in printed)) { printed[key] = 1; print "cycle: " cyc; found = 1 }
      } else if (!(v in seen)) {
        dfs(v, depth + 1)
      }
    }
    delete onpath[u]
  }
  # Canonical key of a cycle: its node set sorted, so each cycle prints once.
  function canon(a, b,    k, m, arr, out, i, j, t) {
    m = 0
    for (k = a; k <= b; k++) arr[++m] = path[k]
    for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (arr[j] < arr[i]) { t = arr[i]; arr[i] = arr[j]; arr[j] = t }
    out = ""
    for (i = 1; i <= m; i++) out = out arr[i] ","
    return out
  }
  END {
    for (u in nodes) { delete seen; dfs(u, 0) }
    exit found ? 1 : 0
  }
' "$edges" && status=0 || status=$?

if [[ $status -ne 0 ]]; then
  echo "check_layers: include cycles between folders of $root (edges: from -> to):" >&2
  awk '{print "  " $1 " -> " $2}' "$edges" >&2
  exit 1
fi
echo "check_layers: $(wc -l < "$edges") folder dependencies, no cycles"
