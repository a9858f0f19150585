# shellcheck shell=bash
# .ci/redis.sh starts a throwaway Redis on 127.0.0.1 for the tests and
# exports SHIMING_TEST_REDIS_ADDR.
#
# Source it (from .ci/run, after `apt-get install -y redis-server`):
#     . .ci/redis.sh
# or run it:
#     bash .ci/redis.sh start   # prints the export line
#     bash .ci/redis.sh stop    # stops the server it started and removes its folder
#
# It is idempotent: a server it started before (same folder and port) is
# reused. Settings (environment): SHIMING_REDIS_DIR (default
# /tmp/shiming-redis), SHIMING_REDIS_PORT (default 56379).
# Persistence is off (no RDB snapshots, no AOF) and it listens on loopback
# only: for tests, never for production.

shiming_redis__ping() {
	[ "$(redis-cli -h 127.0.0.1 -p "$SHIMING_REDIS_PORT" ping 2>/dev/null)" = "PONG" ]
}

# shiming_redis__ours reports whether the pid file names a live redis-server.
shiming_redis__ours() {
	local pid
	[ -f "$SHIMING_REDIS_DIR/redis.pid" ] || return 1
	pid=$(cat "$SHIMING_REDIS_DIR/redis.pid" 2>/dev/null) || return 1
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -q redis-server "/proc/$pid/cmdline" 2>/dev/null
}

shiming_redis_start() {
	SHIMING_REDIS_DIR=${SHIMING_REDIS_DIR:-/tmp/shiming-redis}
	SHIMING_REDIS_PORT=${SHIMING_REDIS_PORT:-56379}
	local i
	if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
		echo "redis.sh: redis-server or redis-cli not found (install them: apt-get install -y redis-server)" >&2
		return 1
	fi
	if ! shiming_redis__ours; then
		if shiming_redis__ping; then
			echo "redis.sh: something else already answers on 127.0.0.1:$SHIMING_REDIS_PORT; choose another SHIMING_REDIS_PORT" >&2
			return 1
		fi
		mkdir -p "$SHIMING_REDIS_DIR" || return 1
		chmod 700 "$SHIMING_REDIS_DIR"
		if ! redis-server --port "$SHIMING_REDIS_PORT" --bind 127.0.0.1 --protected-mode yes \
			--save '' --appendonly no --daemonize yes \
			--dir "$SHIMING_REDIS_DIR" --pidfile "$SHIMING_REDIS_DIR/redis.pid" \
			--logfile "$SHIMING_REDIS_DIR/redis.log" >/dev/null 2>&1; then
			echo "redis.sh: redis-server did not start; log follows" >&2
			tail -n 20 "$SHIMING_REDIS_DIR/redis.log" >&2 2>/dev/null
			return 1
		fi
	fi
	for i in $(seq 1 100); do
		if shiming_redis__ping; then
			export SHIMING_TEST_REDIS_ADDR="127.0.0.1:$SHIMING_REDIS_PORT"
			return 0
		fi
		sleep 0.1
	done
	echo "redis.sh: redis-server does not answer on 127.0.0.1:$SHIMING_REDIS_PORT; log follows" >&2
	tail -n 20 "$SHIMING_REDIS_DIR/redis.log" >&2 2>/dev/null
	return 1
}

shiming_redis_stop() {
	SHIMING_REDIS_DIR=${SHIMING_REDIS_DIR:-/tmp/shiming-redis}
	SHIMING_REDIS_PORT=${SHIMING_REDIS_PORT:-56379}
	local pid i
	if shiming_redis__ours; then
		pid=$(cat "$SHIMING_REDIS_DIR/redis.pid")
		kill "$pid" 2>/dev/null
		for i in $(seq 1 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
	fi
	rm -rf "$SHIMING_REDIS_DIR"
	unset SHIMING_TEST_REDIS_ADDR
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	# Run as a script.
	case "${1:-start}" in
	start)
		shiming_redis_start || exit 1
		echo "export SHIMING_TEST_REDIS_ADDR='$SHIMING_TEST_REDIS_ADDR'"
		;;
	stop) shiming_redis_stop ;;
	*)
		echo "usage: bash .ci/redis.sh [start|stop]  (or source it)" >&2
		exit 2
		;;
	esac
else
	shiming_redis_start
fi
