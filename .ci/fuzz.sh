#!/usr/bin/env bash
# .ci/fuzz.sh DURATION [JOBS] — runs every native fuzz target in the module
# for DURATION each (e.g. 4s), JOBS at a time (default: the number of
# cores), each with one fuzzing worker. Their seed corpora also run in
# plain `go test`. A failing target prints its output and the new corpus
# entry, and the script exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."
d="${1:-4s}"
jobs="${2:-$(nproc)}"
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

targets=$(git grep -n -E '^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' -- '*_test.go' |
	sed -E 's#^([^:]*)/[^/:]*:[0-9]+:func (Fuzz[A-Za-z0-9_]*)\(.*#./\1 \2#')
n=$(wc -l <<<"$targets")
echo "fuzzing $n targets for $d each, $jobs at a time"

export d logs
run_one() {
	pkg=$1 name=$2
	log="$logs/$(tr '/.' '__' <<<"$pkg")_$name.log"
	for try in 1 2; do
		if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$d" -parallel 1 "$pkg" >"$log" 2>&1; then
			echo "ok   $name ($pkg)"
			return 0
		fi
		# On a loaded machine the fuzzing coordinator sometimes reports its
		# own deadline as a failure with no failing input; run that once
		# more. A real finding writes its input to testdata/fuzz.
		if [ "$try" = 1 ] && grep -q "context deadline exceeded" "$log" && ! grep -q "Failing input written" "$log"; then
			continue
		fi
		break
	done
	echo "FAIL $name ($pkg)"; cat "$log"; return 1
}
export -f run_one
xargs -P "$jobs" -L 1 bash -c 'run_one "$@"' _ <<<"$targets"
echo "ran $n fuzz targets for $d each"
