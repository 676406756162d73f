#!/usr/bin/env bash
# bench-deps.sh installs the peers the load harness compares Tollgate with
# (wrk, nginx, haproxy, caddy) from Debian's packages, if they are missing.
#
# It is idempotent: nothing is fetched when every tool is already on PATH.
# The packages' own system services are never left running: the harness
# starts its own instances, with its own configs, on loopback ports.
set -euo pipefail

# tool:package pairs; the tool is what must be on PATH afterwards.
want=(wrk:wrk nginx:nginx haproxy:haproxy caddy:caddy)

missing=()
for pair in "${want[@]}"; do
	tool=${pair%%:*} pkg=${pair#*:}
	if ! command -v "$tool" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$tool" ]; then
		missing+=("$pkg")
	fi
done

if [ ${#missing[@]} -eq 0 ]; then
	echo "bench-deps: wrk, nginx, haproxy and caddy are installed"
	exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
	echo "bench-deps: apt-get not found; install ${missing[*]} by hand" >&2
	exit 1
fi

SUDO=
if [ "$(id -u)" -ne 0 ]; then
	SUDO=sudo
fi

echo "bench-deps: installing ${missing[*]}"
$SUDO apt-get update -qq

# Keep package scripts from starting system services while installing
# (policy-rc.d exit code 101 means "action forbidden"); remove the guard after.
policy=/usr/sbin/policy-rc.d
added_policy=0
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
	$SUDO chmod 755 "$policy"
	added_policy=1
fi
cleanup() {
	if [ "$added_policy" -eq 1 ]; then
		$SUDO rm -f "$policy"
	fi
}
trap cleanup EXIT

install=()
for pkg in "${missing[@]}"; do
	# Capture first: grep -q would close the pipe early and trip pipefail.
	pol=$(apt-cache policy "$pkg" 2>/dev/null || true)
	if [[ $pol == *"Candidate: "[0-9]* ]]; then
		install+=("$pkg")
	else
		echo "bench-deps: package $pkg is not available here; its row will be skipped" >&2
	fi
done

if [ ${#install[@]} -gt 0 ]; then
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${install[@]}"
fi

# Stop and disable any system service a package started anyway.
for svc in nginx haproxy caddy; do
	if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
		$SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || true
	elif [ -x "/etc/init.d/$svc" ]; then
		$SUDO "/etc/init.d/$svc" stop >/dev/null 2>&1 || true
	fi
done

echo "bench-deps: done"
