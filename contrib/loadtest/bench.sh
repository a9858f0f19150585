#!/usr/bin/env bash
# contrib/loadtest/bench.sh — the measurements of BENCHMARKS.md, one
# command each, on loopback. Run from anywhere; it builds what it needs.
#
#   contrib/loadtest/bench.sh machine          # what to print above the figures
#   contrib/loadtest/bench.sh ceiling          # (a) argon2id hashes/s, every core busy (go test -bench)
#   contrib/loadtest/bench.sh login            # (b) password sign-ins/s as a ratio of (a)
#   contrib/loadtest/bench.sh realname         # (c) real-name registrations/s as a ratio of (a), per-step p50/p95/p99, (g) CPU profile
#   contrib/loadtest/bench.sh poll             # (d) QR-status polls/s and p99 with 5,000 candidates waiting (hammered, then paced
#                                              #     as the page polls), memory per waiting candidate, (g) CPU profile
#   contrib/loadtest/bench.sh replicas         # (e) (c) on PostgreSQL + Redis with two replicas, against (c) on the embedded default, in one run
#   contrib/loadtest/bench.sh compare OLD NEW MODE  # before/after: MODE (realname, login, poll or paced) with two binaries, alternating, twice each
#
# Each run starts its own gateway (the embedded default: SQLite and the
# sandbox in-process) on BENCH_PORT (default 27080), +1 for the sandbox,
# +2 for the ops listener, with a fresh data folder, and stops it after.
# Every simulated candidate comes from 127.0.0.1, so the per-IP limits
# are raised for the run (the environment below); SHIMING_PPROF=1 lets the
# load tool take a CPU profile from the ops listener.
# Settings: BENCH_PORT, BENCH_OUT (profiles and logs, default
# /tmp/shiming-bench), BENCH_CANDIDATES, BENCH_CONCURRENCY, BENCH_CEILING.
# replicas needs SHIMING_TEST_POSTGRES_DSN and SHIMING_TEST_REDIS_ADDR
# (`. .ci/postgres.sh; . .ci/redis.sh`).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
port=${BENCH_PORT:-27080}
out=${BENCH_OUT:-/tmp/shiming-bench}
ceiling=${BENCH_CEILING:-10s}
mkdir -p "$out"

export SHIMING_LIMITS_QR_STARTS_PER_IP_PER_MINUTE=1000000
export SHIMING_LIMITS_SMS_PER_IP_PER_DAY=1000000
export SHIMING_LIMITS_SMS_PER_DAY=100000000
export SHIMING_LIMITS_PASSWORD_PER_IP_PER_HOUR=1000000
export SHIMING_LIMITS_PASSWORD_PER_ACCOUNT_PER_HOUR=100
export SHIMING_PPROF=1

bin="$out/bin"
build() {
	mkdir -p "$bin"
	go build -o "$bin/shiming" ./gateway/cmd/shiming
	go build -o "$bin/loadtest" ./contrib/loadtest
}

gw_pid=""
stop_gateway() {
	if [ -n "$gw_pid" ] && kill -0 "$gw_pid" 2>/dev/null; then
		kill -INT "$gw_pid"
		wait "$gw_pid" 2>/dev/null || true
	fi
	gw_pid=""
}
trap stop_gateway EXIT

# start_gateway BINARY NAME: the embedded default on $port, fresh data.
start_gateway() {
	local binary=$1 name=$2 data="$out/data-$2"
	rm -rf "$data"
	SHIMING_SANDBOX_LISTEN="127.0.0.1:$((port + 1))" "$binary" serve --data "$data" \
		--listen "127.0.0.1:$port" --ops-listen "127.0.0.1:$((port + 2))" >"$out/$name.log" 2>&1 &
	gw_pid=$!
	wait_ready "http://127.0.0.1:$((port + 2))/readyz" "$out/$name.log"
}

wait_ready() {
	local url=$1 log=$2 i
	for i in $(seq 1 300); do
		if [ "$(curl -s -o /dev/null -w '%{http_code}' "$url")" = 200 ]; then
			return 0
		fi
		sleep 0.2
	done
	echo "bench: $url not ready; log:" >&2
	tail -20 "$log" >&2
	return 1
}

# tree PID...: the processes and all their descendants.
tree() {
	local p
	for p in "$@"; do
		echo "$p"
		# shellcheck disable=SC2046
		tree $(pgrep -P "$p" || true)
	done
}

# cpu_ms PID...: CPU time (user + system, ms) the processes and their
# descendants have used so far.
cpu_ms() {
	local hz total=0 p t
	hz=$(getconf CLK_TCK)
	for p in $(tree "$@"); do
		t=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)
		total=$((total + t))
	done
	echo $((total * 1000 / hz))
}

# journeys_of FILE: the journeys count of a load-tool result.
journeys_of() { tail -1 "$1" | sed 's/.*"journeys":\([0-9]*\).*/\1/'; }

target() { echo "--target http://127.0.0.1:$port --sandbox http://127.0.0.1:$((port + 1)) --ops http://127.0.0.1:$((port + 2))"; }

machine() {
	echo "date:      $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "cpu:       $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), nproc $(nproc)"
	echo "go:        $(go version)"
	echo "kernel:    $(uname -sr)"
	echo "load avg:  $(cut -d' ' -f1-3 /proc/loadavg)"
}

run_realname() { # BINARY NAME [extra loadtest flags]
	local binary=$1 name=$2 c0 c1
	shift 2
	start_gateway "$binary" "$name"
	c0=$(cpu_ms "$gw_pid")
	# shellcheck disable=SC2046
	"$bin/loadtest" $(target) --mode realname --candidates "${BENCH_CANDIDATES:-600}" \
		--concurrency "${BENCH_CONCURRENCY:-48}" --progress 5s "$@" | tee "$out/$name-result.txt"
	c1=$(cpu_ms "$gw_pid")
	echo "system CPU (gateway, its plugins, the in-process sandbox): $((c1 - c0)) ms," \
		"$(((c1 - c0) / $(journeys_of "$out/$name-result.txt"))) ms per journey"
	peak_rss
	stop_gateway
}

run_poll() { # BINARY NAME [extra loadtest flags]
	local binary=$1 name=$2
	shift 2
	start_gateway "$binary" "$name"
	# shellcheck disable=SC2046
	"$bin/loadtest" $(target) --mode poll --candidates "${BENCH_CANDIDATES:-5000}" \
		--concurrency "${BENCH_CONCURRENCY:-64}" --duration 30s --progress 5s "$@"
	stop_gateway
}

# run_paced: the waiting pages poll every 1.5 s, as the QR page's script
# does, instead of as fast as they can.
run_paced() { # BINARY NAME [extra loadtest flags]
	run_poll "$@" --poll-every 1.5s
}

run_login() { # BINARY NAME [extra loadtest flags]
	local binary=$1 name=$2
	shift 2
	start_gateway "$binary" "$name"
	# shellcheck disable=SC2046
	"$bin/loadtest" $(target) --mode login --accounts 100 --candidates "${BENCH_CANDIDATES:-1000}" \
		--concurrency "${BENCH_CONCURRENCY:-16}" --progress 5s "$@"
	peak_rss
	stop_gateway
}

# peak_rss prints the gateway process's peak resident memory so far.
peak_rss() { echo "gateway peak RSS: $(awk '/^VmHWM/ {printf "%.0f MiB", $2 / 1024}' "/proc/$gw_pid/status")"; }

# replicas: the sandbox and two replicas on PostgreSQL + Redis, then the
# same run on the embedded default, so that the two figures share one
# run of the machine.
replicas() {
	: "${SHIMING_TEST_POSTGRES_DSN:?run . .ci/postgres.sh first}"
	: "${SHIMING_TEST_REDIS_ADDR:?run . .ci/redis.sh first}"
	local id schema dsn prefix dir sep
	id=$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')
	schema="bench_$id"
	prefix="bench:$id:"
	dir="$out/replicas"
	rm -rf "$dir"
	mkdir -p "$dir"
	psql -q "$SHIMING_TEST_POSTGRES_DSN" -c "CREATE SCHEMA $schema"
	case "$SHIMING_TEST_POSTGRES_DSN" in *\?*) sep='&' ;; *) sep='?' ;; esac
	dsn="${SHIMING_TEST_POSTGRES_DSN}${sep}search_path=$schema"
	head -c 32 /dev/urandom | base64 >"$dir/master.key"
	chmod 600 "$dir/master.key"

	local sb="127.0.0.1:$((port + 10))" r1="127.0.0.1:$((port + 11))" r2="127.0.0.1:$((port + 13))"
	local pids=()
	"$bin/shiming" sandbox --listen "$sb" --data "$dir/sandbox-data" --public-url "http://$sb" \
		--oidc-redirect "http://$r1/oidc/zwfw/callback" >"$dir/sandbox.log" 2>&1 &
	pids+=($!)
	wait_ready "http://$sb/sandbox/healthz" "$dir/sandbox.log"
	local n listen ops
	for n in 1 2; do
		listen="127.0.0.1:$((port + 9 + 2 * n))"
		ops="127.0.0.1:$((port + 10 + 2 * n))"
		cat >"$dir/replica-$n.yaml" <<-EOF
			listen: $listen
			ops_listen: $ops
			public_url: http://$r1
			data_dir: $dir/replica-$n
			storage:
			  driver: postgres
			  dsn: "$dsn"
			redis:
			  addr: $SHIMING_TEST_REDIS_ADDR
			  prefix: "$prefix"
			keys:
			  master_key_file: $dir/master.key
			sandbox:
			  public_url: http://$sb
			  apps_file: $dir/sandbox-data/sandbox/sandbox-apps.yaml
		EOF
		"$bin/shiming" serve --config "$dir/replica-$n.yaml" >"$dir/replica-$n.log" 2>&1 &
		pids+=($!)
		wait_ready "http://$ops/readyz" "$dir/replica-$n.log"
	done
	# PostgreSQL (the postmaster and its backends) and Redis count too:
	# they serve only these replicas while the run lasts (other users of
	# the same servers, such as tests, add noise).
	local shared=() pg
	pg=$(psql -qtA "$SHIMING_TEST_POSTGRES_DSN" -c "SELECT pg_backend_pid()" 2>/dev/null | head -1)
	pg=$(awk '{print $4}' "/proc/$pg/stat" 2>/dev/null || true)
	[ -n "$pg" ] && shared+=("$pg")
	shared+=($(pgrep -x redis-server || true))
	local c0 c1 s0 s1
	c0=$(cpu_ms "${pids[@]}")
	s0=$(cpu_ms "${shared[@]}")
	echo "== (e) two replicas on PostgreSQL + Redis"
	"$bin/loadtest" --target "http://$r1,http://$r2" --sandbox "http://$sb" --mode realname \
		--candidates "${BENCH_CANDIDATES:-600}" --concurrency "${BENCH_CONCURRENCY:-48}" \
		--progress 5s --ceiling "$ceiling" | tee "$dir/result.txt"
	c1=$(cpu_ms "${pids[@]}")
	s1=$(cpu_ms "${shared[@]}")
	local n
	n=$(journeys_of "$dir/result.txt")
	echo "system CPU (sandbox, replicas, their plugins): $((c1 - c0)) ms; PostgreSQL + Redis: $((s1 - s0)) ms;" \
		"$(((c1 - c0 + s1 - s0) / n)) ms per journey"
	local per_e=$(((c1 - c0 + s1 - s0) / n))
	kill -INT "${pids[@]}" 2>/dev/null || true
	wait "${pids[@]}" 2>/dev/null || true
	psql -q "$SHIMING_TEST_POSTGRES_DSN" -c "DROP SCHEMA $schema CASCADE"
	redis-cli -h "${SHIMING_TEST_REDIS_ADDR%:*}" -p "${SHIMING_TEST_REDIS_ADDR##*:}" --scan --pattern "$prefix*" |
		xargs -r redis-cli -h "${SHIMING_TEST_REDIS_ADDR%:*}" -p "${SHIMING_TEST_REDIS_ADDR##*:}" unlink >/dev/null

	echo "== (c) the embedded default, same run"
	run_realname "$bin/shiming" embedded --ceiling "$ceiling" | tee "$out/embedded-cpu.txt"
	local e c per_c
	per_c=$(grep '^system CPU' "$out/embedded-cpu.txt" | sed 's/.* \([0-9]*\) ms per journey/\1/')
	awk -v e="$per_e" -v c="$per_c" 'BEGIN { printf "CPU per journey, replicas/embedded: %s / %s ms = %.3f (the loss per core: %.1f%%)\n", e, c, e / c, 100 * (1 - c / e) }'
	e=$(tail -1 "$dir/result.txt" | sed 's/.*"journeys_per_s":\([0-9.]*\).*/\1/')
	c=$(tail -1 "$out/embedded-result.txt" | sed 's/.*"journeys_per_s":\([0-9.]*\).*/\1/')
	awk -v e="$e" -v c="$c" 'BEGIN { printf "replicas/embedded journeys per second: %s / %s = %.3f\n", e, c, e / c }'
}

# compare OLD NEW MODE: the same measurement with two binaries, ABAB.
compare() {
	local old=$1 new=$2 mode=$3 round
	for round in 1 2; do
		for which in old new; do
			local b=$old
			[ "$which" = new ] && b=$new
			echo "== $mode, $which binary ($b), round $round, load average $(cut -d' ' -f1 /proc/loadavg)"
			"run_$mode" "$b" "$mode-$which-$round" --profile "$out/$mode-$which-$round.pprof" |
				grep -E '^(gateway CPU|gateway peak RSS|system CPU|vendor polls|live heap|\{)'
		done
	done
}

case "${1:-}" in
machine) machine ;;
ceiling) go test -run '^$' -bench HashParallel -benchtime 60x -count 3 ./gateway/password ;;
login)
	build
	run_login "$bin/shiming" login --ceiling "$ceiling" --profile "$out/login.pprof"
	;;
realname)
	build
	run_realname "$bin/shiming" realname --ceiling "$ceiling" --profile "$out/realname.pprof"
	go tool pprof -top -nodecount 25 "$out/realname.pprof" 2>/dev/null | sed -n '4,35p'
	;;
poll)
	build
	echo "== as fast as 64 pollers can"
	run_poll "$bin/shiming" poll --profile "$out/poll.pprof"
	echo "== every waiting page polling every 1.5 s, as the QR page's script does"
	run_paced "$bin/shiming" poll-paced
	go tool pprof -top -cum -nodecount 40 "$out/poll.pprof" 2>/dev/null | sed -n '4,50p'
	;;
replicas)
	build
	replicas
	;;
compare)
	[ $# -eq 4 ] || { echo "usage: $0 compare OLD-BINARY NEW-BINARY realname|login|poll|paced" >&2; exit 2; }
	build
	compare "$2" "$3" "$4"
	;;
*)
	sed -n '2,25p' "$0" >&2
	exit 2
	;;
esac
