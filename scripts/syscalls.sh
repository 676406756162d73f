#!/usr/bin/env bash
# syscalls.sh counts, per request, the system calls and context switches
# of Tollgate's two engines and of nginx forwarding the same GET to the
# same demo upstream (perf stat on each proxy's process tree while wrk
# drives it), and splits each one's CPU time into user and system.
#
#   scripts/syscalls.sh [SECONDS]        # default 8 s per target
#
#   scripts/syscalls.sh --audit [SECONDS]
#
# --audit measures the audit log's cost instead: each engine with the log
# off and in durability process, in the same run, and nginx is not started.
#
# It needs perf (Debian's linux-perf), wrk and nginx (scripts/bench-deps.sh
# installs the last two) and runs everything on 127.0.0.1.
set -euo pipefail
audit=
if [ "${1:-}" = --audit ]; then audit=1; shift; fi
secs=${1:-8}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
for tool in perf wrk; do
	command -v "$tool" >/dev/null || { echo "syscalls: $tool is not installed" >&2; exit 1; }
done
nginx=$(command -v nginx || echo /usr/sbin/nginx)
[ -n "$audit" ] || [ -x "$nginx" ] || { echo "syscalls: nginx is not installed (scripts/bench-deps.sh)" >&2; exit 1; }

go build -o bin/tollgate ./cmd/tollgate
dir=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	[ -f "$dir/nginx.pid" ] && kill "$(cat "$dir/nginx.pid")" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
up=127.0.0.1:$(free_port)
bin/tollgate demo-upstream --listen "$up" >/dev/null 2>&1 &
pids+=($!)

started= # the pid start_tollgate started (not a subshell: cleanup kills it)
start_tollgate() { # engine port [audit]
	local name=$1 auditcfg=
	if [ -n "${3:-}" ]; then
		name=$1-audit
		[ -f "$dir/audit.key" ] || bin/tollgate audit keygen --origin tollgate.syscalls/audit --out "$dir/audit" >/dev/null
		auditcfg="audit: {dir: \"$dir/$name\", signing_key_file: \"$dir/audit.key\", durability: process}"
	fi
	cat >"$dir/$name.yaml" <<CFG
log: {level: error}
admin: {listen: "127.0.0.1:$(free_port)"}
listeners: [{name: bench, listen: "127.0.0.1:$2", engine: $1}]
upstreams: [{name: demo, targets: ["$up"], max_connections: 256}]
routes: [{name: bench, methods: [GET], path: /bench, upstream: demo}]
$auditcfg
CFG
	bin/tollgate run -c "$dir/$name.yaml" >/dev/null 2>&1 &
	started=$!
	pids+=("$started")
}
gport=$(free_port); start_tollgate gnet "$gport"; gpid=$started
fport=$(free_port); start_tollgate fasthttp "$fport"; fpid=$started
if [ -n "$audit" ]; then
	gaport=$(free_port); start_tollgate gnet "$gaport" audit; gapid=$started
	faport=$(free_port); start_tollgate fasthttp "$faport" audit; fapid=$started
else
nport=$(free_port)
cat >"$dir/nginx.conf" <<CFG
worker_processes auto;
pid $dir/nginx.pid;
$([ "$(id -u)" = 0 ] && echo "user root;")
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $dir/cb; proxy_temp_path $dir/px; fastcgi_temp_path $dir/fc; uwsgi_temp_path $dir/uw; scgi_temp_path $dir/sc;
    upstream demo { server $up; keepalive 64; }
    server { listen 127.0.0.1:$nport; location / { proxy_pass http://demo; proxy_http_version 1.1; proxy_set_header Connection ""; } }
}
CFG
"$nginx" -c "$dir/nginx.conf" -p "$dir" -g 'daemon off;' &
pids+=($!)
fi
sleep 1
[ -n "$audit" ] || npid=$(cat "$dir/nginx.pid")

tree() { echo "$1" $(pgrep -P "$1" || true) | tr ' ' ','; }
ticks() { # user|sys pid...
	local f=14 s=0; [ "$1" = sys ] && f=15; shift
	for p in ${1//,/ }; do s=$((s + $(awk -v f=$f '{print $f}' "/proc/$p/stat"))); done; echo $s
}
measure() { # name pid port
	local pids; pids=$(tree "$2")
	wrk -t2 -c64 -d2s "http://127.0.0.1:$3/bench" >/dev/null # warm up
	local u0 s0; u0=$(ticks user "$pids"); s0=$(ticks sys "$pids")
	perf stat -x, -e raw_syscalls:sys_enter,context-switches -p "$pids" -o "$dir/$1.perf" -- sleep "$secs" &
	local perfpid=$!
	local out; out=$(wrk -t2 -c64 -d"${secs}s" "http://127.0.0.1:$3/bench")
	wait $perfpid
	local u1 s1; u1=$(ticks user "$pids"); s1=$(ticks sys "$pids")
	local reqs; reqs=$(echo "$out" | awk '/requests in/{print $1}')
	local sc cs; sc=$(awk -F, '/raw_syscalls/{print $1}' "$dir/$1.perf"); cs=$(awk -F, '/context-switches/{print $1}' "$dir/$1.perf")
	local tck; tck=$(getconf CLK_TCK)
	awk -v n="$1" -v r="$reqs" -v s="$secs" -v sc="$sc" -v cs="$cs" -v u=$((u1-u0)) -v sy=$((s1-s0)) -v t="$tck" 'BEGIN {
		printf "| %s | %.0f | %.2f | %.2f | %.1fµs | %.1fµs | %.1fµs |\n", n, r/s, sc/r, cs/r, u*1e6/t/r, sy*1e6/t/r, (u+sy)*1e6/t/r }'
}
echo "| target | req/s | syscalls/req | context switches/req | user CPU/req | system CPU/req | CPU/req |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
for round in 1 2; do
	measure "tollgate gnet (round $round)" "$gpid" "$gport"
	if [ -n "$audit" ]; then
		measure "tollgate gnet, audit process (round $round)" "$gapid" "$gaport"
	fi
	measure "tollgate fasthttp (round $round)" "$fpid" "$fport"
	if [ -n "$audit" ]; then
		measure "tollgate fasthttp, audit process (round $round)" "$fapid" "$faport"
	else
		measure "nginx (round $round)" "$npid" "$nport"
	fi
done
echo
echo "wrk -t2 -c64, ${secs}s per run after a 2s warm-up; perf stat over each proxy's process tree; $(nproc) CPUs; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
