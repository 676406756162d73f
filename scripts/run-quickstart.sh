#!/usr/bin/env bash
# Starts the bundled demo upstream and Tollgate on configs/quickstart.yaml,
# prints how to call them, and stops both on Ctrl-C.
set -euo pipefail
bin=${1:-bin/tollgate}
cd "$(dirname "$0")/.."

"$bin" demo-upstream --listen 127.0.0.1:9000 &
up=$!
"$bin" run -c configs/quickstart.yaml &
proxy=$!
trap 'kill -TERM $proxy $up 2>/dev/null; wait $proxy $up 2>/dev/null || true' EXIT INT TERM

for _ in $(seq 1 50); do
	curl -fsS -o /dev/null http://127.0.0.1:9901/readyz 2>/dev/null && break
	sleep 0.1
done

cat <<'MSG'

Tollgate is running on http://127.0.0.1:8080 in front of the demo API on 127.0.0.1:9000.
Try:
  curl -i http://127.0.0.1:8080/api/v1/customers/1
  curl -i -X POST http://127.0.0.1:8080/api/v1/orders -H 'Content-Type: application/json' -d '{"customer":"1","sku":"tea","qty":2}'
  curl -i -X DELETE http://127.0.0.1:8080/api/v1/customers/2
  curl -i http://127.0.0.1:8080/api/v1/customers/%2e%2e/%2e%2e/admin/stats   # 400: path tricks are refused
  curl -i http://127.0.0.1:8080/nope                         # 404 problem+json, upstream never contacted
  curl -N http://127.0.0.1:8080/api/v1/events?n=3            # Server-Sent Events, streamed
  curl -s http://127.0.0.1:9901/metrics | grep tollgate_     # Prometheus metrics
Reload the config with:  kill -HUP $(pgrep -f 'tollgate run')
Press Ctrl-C to stop.
MSG
wait $proxy
