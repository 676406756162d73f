#!/usr/bin/env bash
# bench.sh runs the load comparison (make bench): it installs the peers if
# missing, builds bin/tollgate, and runs bench/loadbench against it.
# Arguments go to loadbench, for example:
#   scripts/bench.sh --duration 30s --rounds 3 --markdown bench.md
#   scripts/bench.sh --targets direct,tollgate,nginx
#   scripts/bench.sh --targets ship    # audit shipping to PostgreSQL on vs off (starts its own server)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

bash scripts/bench-deps.sh

mkdir -p bin
echo "bench: building bin/tollgate"
go build -o bin/tollgate ./cmd/tollgate

exec go run ./bench/loadbench --tollgate bin/tollgate --command "scripts/bench.sh $*" "$@"
