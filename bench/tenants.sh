#!/usr/bin/env bash
# Tenant scale: login, refresh and token-verification throughput with 1 tenant and with 1,000 tenants
# (one of them holding 1,000 users), on a release build with PostgreSQL + Redis.
#
#   bench/tenants.sh                   TENANTS=1000 USERS=1000 ROUNDS=3 DURATION=8s
#   BIN=path/to/release/gatehouse bench/tenants.sh
#
# Phases, all against one server process:
#   1. one tenant `bench-0` with user alice: /me (one token), login and refresh, ROUNDS rounds each
#   2. TENANTS-1 more tenants through the admin API, USERS users in bench-0, one user per tenant
#   3. /me with tokens of every tenant, picked at random per request (all tenants' keys in use),
#      /me with bench-0's token, login and refresh rotation in bench-0, ROUNDS rounds each
# Prints medians and the 1,000-vs-1 ratios. Needs wrk, curl, jq, psql.
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$(dirname "$REPO")/target-bench}
TENANTS=${TENANTS:-1000}; USERS=${USERS:-1000}; ROUNDS=${ROUNDS:-3}; DURATION=${DURATION:-8s}
CONNS=${CONNS:-32}; THREADS=${THREADS:-2}; LOGIN_CONNS=${LOGIN_CONNS:-8}
PG=${PG:-postgres://postgres@127.0.0.1:5432}; DB_NAME=${DB_NAME:-gatehouse_bench_tenants}
PORT=${PORT:-8097}; URL=http://127.0.0.1:$PORT
OUT=${OUT_DIR:-$BENCH_DIR/results}/tenants-$(date +%Y%m%d-%H%M%S); mkdir -p "$OUT"
PW='correct horse battery staple'; OP_PW='bench operator passphrase'
for tool in wrk curl jq psql; do command -v $tool >/dev/null || { echo "missing $tool" >&2; exit 1; }; done

# BIN= a release binary to measure instead of building the working tree.
BIN=${BIN:-$CARGO_TARGET_DIR/release/gatehouse}
[ "${SKIP_BUILD:-}" = 1 ] || [ "$BIN" != "$CARGO_TARGET_DIR/release/gatehouse" ] || (cd "$REPO" && cargo build --release --bin gatehouse)
psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB_NAME" -c "CREATE DATABASE $DB_NAME"
redis-cli --scan --pattern 'ghtenants:*' | xargs -r redis-cli del >/dev/null
big=100000000
env GATEHOUSE_CONFIG_DIR="$REPO/config" GATEHOUSE__SERVER__BIND=127.0.0.1:$PORT \
  GATEHOUSE__DATABASE__URL="$PG/$DB_NAME" GATEHOUSE__REDIS__URL=redis://127.0.0.1:6379 \
  GATEHOUSE__REDIS__KEY_PREFIX=ghtenants: GATEHOUSE__SECRETS__MASTER_KEY="$(head -c32 /dev/urandom | base64)" \
  GATEHOUSE__BOOTSTRAP__ADMIN_PASSWORD="$OP_PW" GATEHOUSE__LOG__LEVEL=warn \
  GATEHOUSE__LIMITS__LOGIN_PER_IP=$big GATEHOUSE__LIMITS__REGISTER_PER_IP=$big GATEHOUSE__LIMITS__REFRESH_PER_IP=$big \
  "$BIN" serve > "$OUT/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "$URL/health/ready" >/dev/null && break; sleep 0.2; done

login() { curl -sf -X POST "$URL/t/$1/auth/login" -H 'Content-Type: application/json' -d "{\"username\":\"$2\",\"password\":\"$3\"}"; }
OP=$(login system admin "$OP_PW" | jq -r .access_token)
admin() { curl -sf -X "$1" "$URL$2" -H "Authorization: Bearer $OP" -H 'Content-Type: application/json' ${3:+-d "$3"}; }
new_tenant() { admin POST /admin/v1/tenants "{\"slug\":\"$1\",\"display_name\":\"$1\"}" >/dev/null; }
# Runs a command in the background, eight at a time. (A bare `wait` would wait for the server.)
PIDS=()
batch() { "$@" & PIDS+=($!); if (( ${#PIDS[@]} >= 8 )); then wait "${PIDS[@]}"; PIDS=(); fi; }
flush() { if (( ${#PIDS[@]} )); then wait "${PIDS[@]}"; fi; PIDS=(); }
new_user() { admin POST "/admin/v1/tenants/$1/users" "{\"username\":\"$2\",\"password\":\"$PW\"}" >/dev/null; }

measure() { # name conns path lua [env...]
  local name=$1 conns=$2 path=$3 lua=$4; shift 4
  env "$@" wrk -t"$THREADS" -c"$conns" -d"$DURATION" --latency -s "$lua" "$URL$path" > "$OUT/$name.txt" 2>&1 || true
  grep '^RESULT' "$OUT/$name.txt" | sed "s/^RESULT/$name/" | tee -a "$OUT/results.txt"
}
PEER_LUA=$REPO/../shared/peers/node-passport/wrk/auth.lua
[ -f "$PEER_LUA" ] || { echo "needs the peer's wrk/auth.lua (PEER_LUA=...)" >&2; exit 1; }
LOGIN_BODY="{\"username\":\"alice\",\"password\":\"$PW\"}"

phase() { # label
  local tok; tok=$(login bench-0 alice "$PW" | jq -r .access_token)
  for r in $(seq "$ROUNDS"); do
    measure "$1-me-one-r$r" "$CONNS" /t/bench-0/me "$PEER_LUA" WRK_MODE=bearer TOKEN="$tok"
    # The same per-request Lua script as the 1,000-tenant run, over this one tenant's token:
    # wrk builds every request in Lua there, which costs the load generator (on the same
    # cores) more than a fixed request does.
    measure "$1-me-lua-r$r" "$CONNS" / "$BENCH_DIR/wrk/multi_tenant.lua" TOKENS_FILE="$TOKENS_FILE"
    measure "$1-login-r$r" "$LOGIN_CONNS" /t/bench-0/auth/login "$PEER_LUA" WRK_MODE=post BODY="$LOGIN_BODY"
    # Fresh rotation chains, one per wrk thread, from new logins.
    local chains=() i
    for i in $(seq "$THREADS"); do chains+=("$(login bench-0 alice "$PW" | jq -r .refresh_token)"); done
    # Every rotation leaves a consumed token row and an updated session row behind; without
    # this, rounds drift down 14 to 18% within a phase (seen) and the later phase looks slower.
    psql "$PG/$DB_NAME" -qc 'VACUUM ANALYZE' >/dev/null
    measure "$1-refresh-r$r" "$THREADS" /t/bench-0/auth/refresh "$PEER_LUA" WRK_MODE=refresh \
      REFRESH_TOKENS="$(IFS=,; echo "${chains[*]}")"
  done
}

echo "== phase 1: one tenant"
new_tenant bench-0; new_user bench-0 alice
TOKENS_FILE=$OUT/tokens-one.txt
echo "bench-0 $(login bench-0 alice "$PW" | jq -r .access_token)" > "$TOKENS_FILE"
phase one

echo "== phase 2: $TENANTS tenants, $USERS users in bench-0"
for i in $(seq 1 $((TENANTS - 1))); do batch new_tenant "bench-$i"; done; flush
for i in $(seq 1 $((USERS - 1))); do batch new_user bench-0 "user$i"; done; flush
for i in $(seq 1 $((TENANTS - 1))); do batch new_user "bench-$i" alice; done; flush
TOKENS_FILE=$OUT/tokens.txt; : > "$TOKENS_FILE"
token_line() { echo "$1 $(login "$1" alice "$PW" | jq -r .access_token)" >> "$TOKENS_FILE"; }
for i in $(seq 0 $((TENANTS - 1))); do batch token_line "bench-$i"; done; flush
echo "tenants: $(psql "$PG/$DB_NAME" -Atc 'select count(*) from tenants'), users in bench-0: $(psql "$PG/$DB_NAME" -Atc "select count(*) from users u join tenants t on t.id = u.tenant_id where t.slug = 'bench-0'"), tokens: $(grep -c ' ey' "$TOKENS_FILE")"
phase many

python3 - "$OUT/results.txt" "$TENANTS" <<'PY' | tee "$OUT/summary.txt"
import re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, *kv = line.split()
    base = re.sub(r"-r\d+$", "", name)
    rows.setdefault(base, []).append(dict(x.split("=") for x in kv))
med = lambda base, k: statistics.median(float(r[k]) for r in rows[base]) if base in rows else float("nan")
print(f"{'scenario':16} {'rps':>10} {'p50 ms':>8} {'p99 ms':>8} {'non2xx':>7}")
for base in rows:
    print(f"{base:16} {med(base,'rps'):10.1f} {med(base,'p50_ms'):8.2f} {med(base,'p99_ms'):8.2f} {sum(int(r['non2xx']) for r in rows[base]):7d}")
n = sys.argv[2]
print(f"/me, {n} tenants (random tenant per request) vs 1 tenant: {med('many-me-lua','rps')/med('one-me-lua','rps'):.2f}x (same Lua script)")
print(f"/me, one tenant's token, {n} tenants vs 1:                {med('many-me-one','rps')/med('one-me-one','rps'):.2f}x")
print(f"login, {n} tenants vs 1:                                  {med('many-login','rps')/med('one-login','rps'):.2f}x")
print(f"refresh, {n} tenants vs 1:                                {med('many-refresh','rps')/med('one-refresh','rps'):.2f}x")
PY
echo "raw results: $OUT"
