#!/usr/bin/env bash
# .ci/fuzz.sh DURATION — runs every native fuzz target in the module for
# DURATION each (e.g. 10s). Their seed corpora already run in `go test`.
set -euo pipefail
cd "$(dirname "$0")/.."
d="${1:-10s}"
n=0
while IFS= read -r line; do
	file=${line%%:*}
	name=$(sed -E 's/^.*func (Fuzz[A-Za-z0-9_]*)\(.*/\1/' <<<"$line")
	pkg="./$(dirname "$file")"
	echo "--- $name ($pkg)"
	go test -run '^$' -fuzz "^${name}\$" -fuzztime "$d" "$pkg" >/tmp/fuzz.log 2>&1 || { cat /tmp/fuzz.log; exit 1; }
	n=$((n + 1))
done < <(git grep -n -E '^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' -- '*_test.go')
echo "ran $n fuzz targets for $d each"
