#!/usr/bin/env bash
# Starts the bundled demo upstream and Tollgate on configs/quickstart.yaml,
# prints how to call them, and stops both on Ctrl-C.
set -euo pipefail
bin=${1:-bin/tollgate}
cd "$(dirname "$0")/.."

# The quickstart's audit log signs its checkpoints with a development key,
# made once and kept under the git-ignored data/ folder.
mkdir -p data
if [ ! -f data/audit-dev.key ]; then
	"$bin" audit keygen --origin tollgate.quickstart/audit --out data/audit-dev >/dev/null
fi
# Beside it, the development JWT issuer's key and JWK Set: bin/tollgate token
# signs with data/jwt-dev.key.
if [ ! -f data/jwt-dev.key ]; then
	rm -f data/jwt-dev.jwks.json
	"$bin" keygen --alg ES256 --kid jwt-dev --out data/jwt-dev >/dev/null
fi

"$bin" demo-upstream --listen 127.0.0.1:9000 &
up=$!
"$bin" run -c configs/quickstart.yaml &
proxy=$!
trap 'kill -TERM $proxy $up 2>/dev/null; wait $proxy $up 2>/dev/null || true' EXIT INT TERM

for _ in $(seq 1 50); do
	curl -fsS -o /dev/null http://127.0.0.1:9901/readyz 2>/dev/null && break
	sleep 0.1
done

cat <<MSG

Tollgate is running on http://127.0.0.1:8080 in front of the demo API on 127.0.0.1:9000,
served by the event-loop engine (engine: auto picks it for a plain-HTTP listener).
Live dashboard: http://127.0.0.1:9901/   (admin listener: /metrics, /healthz, /readyz, /api/stats)
Demo API keys: demo-viewer-key (reads), demo-editor-key (+ creates orders), demo-admin-key (anything);
or a development JWT from '$bin token --sub NAME --roles viewer|editor|admin'.
Try:
  curl -i -H 'X-API-Key: demo-viewer-key' http://127.0.0.1:8080/api/v1/customers/1
  curl -i -H 'X-API-Key: demo-viewer-key' -X DELETE http://127.0.0.1:8080/api/v1/customers/2     # 403 rbac.method_denied
  curl -i -H 'X-API-Key: demo-admin-key'  -X DELETE http://127.0.0.1:8080/api/v1/customers/2     # 204
  TOKEN=\$($bin token --sub vera --roles viewer)                                # a development JWT, signed with data/jwt-dev.key
  curl -i -H "Authorization: Bearer \$TOKEN" http://127.0.0.1:8080/api/v1/customers/1             # 200, principal vera
  curl -i -H 'X-API-Key: demo-editor-key' -X POST http://127.0.0.1:8080/api/v1/orders -H 'Content-Type: application/json' -d '{"customer":"1","sku":"tea","qty":2}'
  curl -i http://127.0.0.1:8080/api/v1/customers/1                                              # 401 authn.required
  curl -i http://127.0.0.1:8080/api/v1/customers/%2e%2e/%2e%2e/admin/stats                       # 400: path tricks are refused
  curl -N -H 'X-API-Key: demo-viewer-key' 'http://127.0.0.1:8080/api/v1/events?n=3'            # Server-Sent Events, streamed
  $bin audit tail -f --dir data/audit                                            # every request, as it is recorded
  $bin audit verify --dir data/audit --pub data/audit-dev.pub                    # check the log's signed Merkle checkpoints
  curl -s http://127.0.0.1:9901/metrics | grep '^tollgate_'                     # Prometheus metrics
  curl -s http://127.0.0.1:9901/metrics | grep '^tollgate_listener_info'        # which engine serves which listener
Reload the config with:  kill -HUP $proxy
Press Ctrl-C to stop.
MSG
wait $proxy
