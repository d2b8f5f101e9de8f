#!/usr/bin/env bash
# Gatehouse-only figures that have no counterpart in the Node peer: idle RSS, `/me` against a
# trivial route of the same server, client-credentials grants, token introspection and
# refresh rotation (one chain per wrk thread), each
# with the server process's CPU time from /proc (requests per server CPU-second), rounds
# alternating between scenarios. Uses the release binary `bench/run.sh` built (run that first,
# or point BIN at a release build) and the peer's wrk script for POST bodies and bearer tokens.
#
#   bench/grants.sh                         ROUNDS=3 DURATION=10s CONNS=32
#   BIN=target/release/gatehouse bench/grants.sh
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$REPO/../target-bench/bench-bin/gatehouse-release}
LUA=${LUA:-$REPO/../shared/peers/node-passport/wrk/auth.lua}
ROUNDS=${ROUNDS:-3} DURATION=${DURATION:-10s} CONNS=${CONNS:-32} THREADS=${THREADS:-2}
PG_USER=${PG_USER:-postgres} DB_NAME=${DB_NAME:-gatehouse_bench_grants} KEY_PREFIX=${KEY_PREFIX:-ghbenchg:}
OUT=${OUT:-$REPO/bench/results/grants-$(date -u +%Y%m%d-%H%M%S)}
[ -x "$BIN" ] || { echo "no release binary at $BIN: run bench/run.sh first or set BIN" >&2; exit 1; }
[ -f "$LUA" ] || { echo "no wrk script at $LUA" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is required" >&2; exit 1; }
mkdir -p "$OUT"

psql -q -h 127.0.0.1 -U "$PG_USER" -d postgres -v ON_ERROR_STOP=1 \
  -c "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" -c "CREATE DATABASE $DB_NAME" >/dev/null
redis-cli --scan --pattern "${KEY_PREFIX}*" | xargs -r -n 500 redis-cli del >/dev/null
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL=http://127.0.0.1:$PORT
OP_PASSWORD=$(openssl rand -base64 24)
big=1000000000
env GATEHOUSE_CONFIG_DIR="$REPO/config" GATEHOUSE__SERVER__BIND=127.0.0.1:$PORT \
  GATEHOUSE__DATABASE__URL="postgres://$PG_USER@127.0.0.1:5432/$DB_NAME" GATEHOUSE__REDIS__URL=redis://127.0.0.1:6379 \
  GATEHOUSE__REDIS__KEY_PREFIX="$KEY_PREFIX" GATEHOUSE__SECRETS__MASTER_KEY="$(openssl rand -base64 32)" \
  GATEHOUSE__BOOTSTRAP__ADMIN_PASSWORD="$OP_PASSWORD" GATEHOUSE__LOG__LEVEL=warn \
  GATEHOUSE__LIMITS__LOGIN_PER_IP=$big GATEHOUSE__LIMITS__REGISTER_PER_IP=$big GATEHOUSE__LIMITS__TOKEN_PER_IP=$big GATEHOUSE__LIMITS__REFRESH_PER_IP=$big \
  "$BIN" serve > "$OUT/gatehouse.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 150); do curl -sf "$URL/health/ready" >/dev/null && break; sleep 0.2; done
sleep 2
rss() { awk '/^VmRSS/ {printf "%.1f", $2/1024}' "/proc/$PID/status"; }
echo "idle RSS after start (no request served but readiness): $(rss) MiB" | tee "$OUT/summary.txt"

json() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
OP=$(curl -sf "$URL/t/system/auth/login" -H 'Content-Type: application/json' \
  -d "{\"username\":\"admin\",\"password\":\"$OP_PASSWORD\"}" | json access_token)
CLIENT=$(curl -s "$URL/admin/v1/tenants/default/clients" -H "Authorization: Bearer $OP" -H 'Content-Type: application/json' \
  -d '{"name":"bench service","client_type":"confidential","grant_types":["client_credentials"],"scopes":["orders:read"],"redirect_uris":[]}')
echo "$CLIENT" | grep -q client_secret || { echo "creating the client failed: $CLIENT" >&2; exit 1; }
BASIC="Basic $(printf '%s:%s' "$(echo "$CLIENT" | json client_id)" "$(echo "$CLIENT" | json client_secret)" | base64 -w0)"
curl -sf "$URL/t/default/auth/register" -H 'Content-Type: application/json' \
  -d '{"username":"alice","password":"correct horse battery staple"}' >/dev/null
ACCESS=$(curl -sf "$URL/t/default/auth/login" -H 'Content-Type: application/json' \
  -d '{"username":"alice","password":"correct horse battery staple"}' | json access_token)
FORM=application/x-www-form-urlencoded

cpu_ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
HZ=$(getconf CLK_TCK)
printf 'round\tscenario\trps\tp99_ms\trequests\tnon2xx\tserver_cpu_s\treq_per_server_cpu_s\n' > "$OUT/rounds.tsv"
run() {  # run ROUND SCENARIO PATH [VAR=VALUE...]
  local round=$1 sc=$2 path=$3; shift 3
  local c0 c1 line
  c0=$(cpu_ticks)
  line=$(env "$@" wrk -t"$THREADS" -c"${RUN_CONNS:-$CONNS}" -d"$DURATION" --latency -s "$LUA" "$URL$path" | grep '^RESULT' || true)
  c1=$(cpu_ticks)
  python3 - "$round" "$sc" "$line" "$c0" "$c1" "$HZ" >> "$OUT/rounds.tsv" <<'EOF'
import re, sys
rnd, sc, line, c0, c1, hz = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
f = dict(re.findall(r"(\w+)=([\d.]+)", line))
cpu = (c1 - c0) / hz
req = int(f.get("requests", 0))
print(f"{rnd}\t{sc}\t{f.get('rps', 0)}\t{f.get('p99_ms', 0)}\t{req}\t{f.get('non2xx', '?')}\t{cpu:.2f}\t{req / cpu if cpu else 0:.0f}")
EOF
  tail -1 "$OUT/rounds.tsv"
}
for r in $(seq "$ROUNDS"); do
  run "$r" live /health/live WRK_MODE=get
  run "$r" me /t/default/me WRK_MODE=bearer TOKEN="$ACCESS"
  run "$r" client_credentials /t/default/oauth2/token WRK_MODE=post CONTENT_TYPE=$FORM \
    BODY='grant_type=client_credentials&scope=orders:read' AUTHORIZATION="$BASIC"
  run "$r" introspect /t/default/oauth2/introspect WRK_MODE=post CONTENT_TYPE=$FORM \
    BODY="token=$ACCESS" AUTHORIZATION="$BASIC"
  # Rotation chains, one per wrk thread (each response carries the next token).
  chains=$(for _ in $(seq "$THREADS"); do
    curl -sf "$URL/t/default/auth/login" -H 'Content-Type: application/json' \
      -d '{"username":"alice","password":"correct horse battery staple"}' | json refresh_token
  done | paste -sd,)
  RUN_CONNS=$THREADS run "$r" refresh /t/default/auth/refresh WRK_MODE=refresh REFRESH_TOKENS="$chains"
done
echo "RSS at the end: $(rss) MiB; peak $(awk '/^VmHWM/ {printf "%.1f", $2/1024}' "/proc/$PID/status") MiB" | tee -a "$OUT/summary.txt"
python3 - "$OUT/rounds.tsv" <<'EOF' | tee -a "$OUT/summary.txt"
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
med = lambda sc, k: statistics.median(float(r[k]) for r in rows if r["scenario"] == sc)
for sc in ("live", "me", "client_credentials", "introspect", "refresh"):
    print(f"{sc:20} rps median {med(sc, 'rps'):9.1f}  p99 {med(sc, 'p99_ms'):7.2f} ms  "
          f"per server CPU-s {med(sc, 'req_per_server_cpu_s'):8.0f}  non2xx {sum(int(r['non2xx']) for r in rows if r['scenario'] == sc)}")
rounds = sorted({r["round"] for r in rows})
ratio = [float(next(r for r in rows if r["round"] == n and r["scenario"] == "me")["rps"])
         / float(next(r for r in rows if r["round"] == n and r["scenario"] == "live")["rps"]) for n in rounds]
print(f"/me vs /health/live: median {statistics.median(ratio):.2f}x (per round {', '.join(f'{x:.2f}' for x in ratio)})")
EOF
echo "results: $OUT"
