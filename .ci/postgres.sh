# shellcheck shell=bash
# .ci/postgres.sh starts a throwaway PostgreSQL on 127.0.0.1 for the tests
# and exports SHIMING_TEST_POSTGRES_DSN.
#
# Source it (from .ci/run, after `apt-get install postgresql`):
#     . .ci/postgres.sh
# or run it:
#     bash .ci/postgres.sh start   # prints the export line
#     bash .ci/postgres.sh stop    # stops the server and removes its folder
#
# It is idempotent: a server it started before (same folder) is reused.
# Settings (environment): SHIMING_PG_DIR (default /tmp/shiming-pg),
# SHIMING_PG_PORT (default 55432), SHIMING_PG_USER (the unprivileged OS
# user that runs the server when called as root; default pgtest).
# Trust authentication on loopback only: for tests, never for production.

shiming_pg__bindir() {
	local d
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		if [ -x "$d/pg_ctl" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_isready" ]; then
			echo "$d"
			return 0
		fi
	done
	if command -v pg_ctl >/dev/null 2>&1; then
		d=$(dirname "$(readlink -f "$(command -v pg_ctl)")")
		if [ -x "$d/initdb" ] && [ -x "$d/pg_isready" ]; then
			echo "$d"
			return 0
		fi
	fi
	return 1
}

# shiming_pg__as runs a command as the server's user (PostgreSQL refuses
# to run as root).
shiming_pg__as() {
	if [ "$(id -u)" -eq 0 ]; then
		su "$SHIMING_PG_USER" -s /bin/sh -c "$*"
	else
		sh -c "$*"
	fi
}

shiming_pg_start() {
	SHIMING_PG_DIR=${SHIMING_PG_DIR:-/tmp/shiming-pg}
	SHIMING_PG_PORT=${SHIMING_PG_PORT:-55432}
	SHIMING_PG_USER=${SHIMING_PG_USER:-pgtest}
	local bin data dsn
	if ! bin=$(shiming_pg__bindir); then
		echo "postgres.sh: PostgreSQL server binaries not found (install them: apt-get install -y postgresql)" >&2
		return 1
	fi
	data="$SHIMING_PG_DIR/data"
	dsn="postgres://postgres@127.0.0.1:$SHIMING_PG_PORT/postgres?sslmode=disable"

	if [ "$(id -u)" -eq 0 ] && ! id "$SHIMING_PG_USER" >/dev/null 2>&1; then
		if ! useradd --system --no-create-home --shell /usr/sbin/nologin "$SHIMING_PG_USER" >/dev/null 2>&1; then
			echo "postgres.sh: cannot create user $SHIMING_PG_USER" >&2
			return 1
		fi
	fi
	if [ ! -d "$SHIMING_PG_DIR" ]; then
		mkdir -p "$SHIMING_PG_DIR" || return 1
		chmod 700 "$SHIMING_PG_DIR"
		if [ "$(id -u)" -eq 0 ]; then
			chown "$SHIMING_PG_USER" "$SHIMING_PG_DIR" || return 1
		fi
	fi

	if [ ! -f "$data/PG_VERSION" ]; then
		if ! shiming_pg__as "'$bin/initdb' -D '$data' -U postgres -A trust -E UTF8 --no-locale" >"$SHIMING_PG_DIR/initdb.log" 2>&1; then
			echo "postgres.sh: initdb failed; log follows" >&2
			tail -n 20 "$SHIMING_PG_DIR/initdb.log" >&2
			return 1
		fi
	fi

	if ! shiming_pg__as "'$bin/pg_ctl' -D '$data' status" >/dev/null 2>&1; then
		# fsync off: a throwaway test server trades durability for speed.
		if ! shiming_pg__as "'$bin/pg_ctl' -D '$data' -w -t 60 -l '$SHIMING_PG_DIR/server.log' -o \"-k '$SHIMING_PG_DIR' -h 127.0.0.1 -p $SHIMING_PG_PORT -c fsync=off -c max_connections=200\" start" >/dev/null 2>&1; then
			echo "postgres.sh: server did not start on 127.0.0.1:$SHIMING_PG_PORT; log follows" >&2
			tail -n 20 "$SHIMING_PG_DIR/server.log" >&2
			return 1
		fi
	fi

	if ! "$bin/pg_isready" -q -h 127.0.0.1 -p "$SHIMING_PG_PORT" -t 30; then
		echo "postgres.sh: server in $data runs but does not answer on 127.0.0.1:$SHIMING_PG_PORT" >&2
		return 1
	fi
	export SHIMING_TEST_POSTGRES_DSN="$dsn"
}

shiming_pg_stop() {
	SHIMING_PG_DIR=${SHIMING_PG_DIR:-/tmp/shiming-pg}
	SHIMING_PG_USER=${SHIMING_PG_USER:-pgtest}
	local bin
	bin=$(shiming_pg__bindir) || return 0
	if [ -f "$SHIMING_PG_DIR/data/PG_VERSION" ]; then
		shiming_pg__as "'$bin/pg_ctl' -D '$SHIMING_PG_DIR/data' -m fast -w stop" >/dev/null 2>&1
	fi
	rm -rf "$SHIMING_PG_DIR"
	unset SHIMING_TEST_POSTGRES_DSN
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	# Run as a script.
	case "${1:-start}" in
	start)
		shiming_pg_start || exit 1
		echo "export SHIMING_TEST_POSTGRES_DSN='$SHIMING_TEST_POSTGRES_DSN'"
		;;
	stop) shiming_pg_stop ;;
	*)
		echo "usage: bash .ci/postgres.sh [start|stop]  (or source it)" >&2
		exit 2
		;;
	esac
else
	shiming_pg_start
fi
