#!/usr/bin/env bash
# Starts a three-instance Tollgate cluster on loopback: Redis for the shared
# rate limits, PostgreSQL for the shipped audit trail, the demo upstream, and
# three proxies on 127.0.0.1:8081, 8082 and 8083 serving the quickstart's
# routes, keys and limits (configs/cluster.yaml). It prints how to call them
# and, on Ctrl-C, stops everything it started by PID; the data under
# data/cluster/ stays for the next start.
#
# It installs nothing: Redis and PostgreSQL come from the machine's packages,
# and it says which to install when one is missing. The ports can be moved
# with the TOLLGATE_CLUSTER_* variables below (the tests do).
set -euo pipefail
bin=${1:-bin/tollgate}
cd "$(dirname "$0")/.."

redis_port=${TOLLGATE_CLUSTER_REDIS_PORT:-6391}
pg_port=${TOLLGATE_CLUSTER_PG_PORT:-5441}
ports=(${TOLLGATE_CLUSTER_PORTS:-8081 8082 8083})
admins=(${TOLLGATE_CLUSTER_ADMIN_PORTS:-9911 9912 9913})
upstream=${TOLLGATE_CLUSTER_UPSTREAM:-127.0.0.1:9000}
data=${TOLLGATE_CLUSTER_DATA:-data/cluster}

# --- what the machine must have ------------------------------------------
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
pgbin=
for d in "$(dirname "$(command -v initdb 2>/dev/null || echo /none/initdb)")" /usr/lib/postgresql/*/bin; do
	if [ -x "$d/initdb" ] && [ -x "$d/postgres" ] && [ -x "$d/psql" ]; then pgbin=$d; fi
done
[ -n "$pgbin" ] || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ]; then
	echo "run-cluster: ${missing[*]} not found; install with: sudo apt-get install ${missing[*]}" >&2
	exit 1
fi

mkdir -p "$data"
data=$(cd "$data" && pwd)
pids=()
stop() {
	trap - EXIT INT TERM
	# Proxies first, so their last records are shipped before PostgreSQL
	# goes; then the servers they use.
	for pid in "${pids[@]}"; do
		# SIGINT is PostgreSQL's fast shutdown (SIGTERM waits for clients).
		if [ "$pid" = "${pg_pid:-}" ]; then kill -INT "$pid" 2>/dev/null || true; else kill -TERM "$pid" 2>/dev/null || true; fi
	done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	echo "run-cluster: stopped; data kept in $data" >&2
}
trap stop EXIT INT TERM

# --- PostgreSQL ------------------------------------------------------------
# PostgreSQL refuses to run as root: as root, its cluster belongs to the
# package's postgres user, in a directory that user can reach.
pgdata=$data/pg
as_pg=()
if [ "$(id -u)" = 0 ]; then
	if ! setpriv --reuid postgres --regid postgres --init-groups test -x "$data" 2>/dev/null; then
		pgdata=/var/tmp/tollgate-cluster-pg-$(echo -n "$data" | sha256sum | cut -c1-12)
	fi
	as_pg=(setpriv --reuid postgres --regid postgres --init-groups)
	mkdir -p "$pgdata"
	chown postgres: "$pgdata"
	chmod 700 "$pgdata"
fi
if [ ! -f "$pgdata/PG_VERSION" ]; then
	"${as_pg[@]}" "$pgbin/initdb" -D "$pgdata" -U tollgate --auth=trust -E UTF8 >"$data/pg-initdb.log" 2>&1 ||
		{ cat "$data/pg-initdb.log" >&2; exit 1; }
fi
"${as_pg[@]}" "$pgbin/postgres" -D "$pgdata" -p "$pg_port" -k "$pgdata" \
	-c listen_addresses=127.0.0.1 -c logging_collector=off >"$data/pg.log" 2>&1 &
pg_pid=$!
pids=($pg_pid "${pids[@]}")
pg_url="postgres://tollgate@127.0.0.1:$pg_port/tollgate?sslmode=disable"

# --- Redis -----------------------------------------------------------------
mkdir -p "$data/redis"
redis-server --bind 127.0.0.1 --port "$redis_port" --dir "$data/redis" \
	--appendonly yes --save '' --daemonize no --logfile "$data/redis.log" &
pids=($! "${pids[@]}")

wait_for() { # what, command...
	local what=$1; shift
	for _ in $(seq 1 100); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "run-cluster: $what did not start; see $data/*.log" >&2
	exit 1
}
wait_for "redis-server" redis-cli -h 127.0.0.1 -p "$redis_port" ping
wait_for "postgres" "$pgbin/pg_isready" -h 127.0.0.1 -p "$pg_port" -U tollgate -d postgres
if ! "$pgbin/psql" -h 127.0.0.1 -p "$pg_port" -U tollgate -d postgres -Atc \
	"SELECT 1 FROM pg_database WHERE datname = 'tollgate'" | grep -q 1; then
	"$pgbin/psql" -h 127.0.0.1 -p "$pg_port" -U tollgate -d postgres -qc "CREATE DATABASE tollgate" >/dev/null
fi

# --- keys: the development JWT issuer of the quickstart, one audit key per
# instance (each instance's log is its own origin) -------------------------
mkdir -p data
if [ ! -f data/jwt-dev.key ]; then
	rm -f data/jwt-dev.jwks.json
	"$bin" keygen --alg ES256 --kid jwt-dev --out data/jwt-dev >/dev/null
fi
for i in 1 2 3; do
	mkdir -p "$data/node$i"
	if [ ! -f "$data/node$i/audit.key" ]; then
		"$bin" audit keygen --origin "tollgate.cluster/node$i" --out "$data/node$i/audit" >/dev/null
	fi
done

# --- the demo upstream and the three instances -----------------------------
"$bin" demo-upstream --listen "$upstream" &
pids=($! "${pids[@]}")
proxies=()
for i in 0 1 2; do
	TOLLGATE_LISTEN=127.0.0.1:${ports[$i]} TOLLGATE_ADMIN=127.0.0.1:${admins[$i]} \
		TOLLGATE_NODE_DIR=$data/node$((i + 1)) TOLLGATE_REDIS=127.0.0.1:$redis_port \
		TOLLGATE_PG_URL=$pg_url TOLLGATE_UPSTREAM=$upstream \
		"$bin" run -c configs/cluster.yaml &
	proxies+=($!)
done
pids=("${proxies[@]}" "${pids[@]}")
for i in 0 1 2; do
	wait_for "instance $((i + 1))" curl -fsS -o /dev/null "http://127.0.0.1:${admins[$i]}/readyz"
done

cat <<MSG

Three Tollgate instances are running in front of the demo API on $upstream:
  http://127.0.0.1:${ports[0]}   http://127.0.0.1:${ports[1]}   http://127.0.0.1:${ports[2]}
(admin: 127.0.0.1:${admins[0]}, ${admins[1]}, ${admins[2]}). The rate limit is shared through Redis on
127.0.0.1:$redis_port, and every audit record is shipped to PostgreSQL:
  $pg_url
Each instance's dashboard (http://127.0.0.1:${admins[0]}/ and the others) shows the whole cluster from it.
Try:
  curl -s -o /dev/null -w '%{http_code}\n' -H 'X-API-Key: demo-viewer-key' 'http://127.0.0.1:{${ports[0]},${ports[1]},${ports[2]}}/api/v1/customers/1?try=[1-9]'   # 27 lookups spread over the three: about 20 x 200 (one burst for all), then 429
  curl -i -H 'X-API-Key: demo-editor-key' -X POST http://127.0.0.1:${ports[1]}/api/v1/orders -H 'Content-Type: application/json' -d '{"customer":"1","sku":"tea","qty":2}'
  $bin audit query --pg '$pg_url' --limit 20                                   # every instance's records
  $bin audit verify --pg '$pg_url' --key $data/node1/audit.pub --key $data/node2/audit.pub --key $data/node3/audit.pub
Press Ctrl-C to stop everything (the data stays in $data).
MSG
wait "${proxies[@]}"
