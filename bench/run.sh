#!/usr/bin/env bash
# Gatehouse load benchmark: Gatehouse (PostgreSQL + Redis) against the Node passport-jwt peer,
# and password logins/s against the raw Argon2id rate, all in one invocation on one machine.
#
#   bench/run.sh                      build, start, measure, stop, summarise
#   ROUNDS=5 DURATION=15s bench/run.sh
#   SCENARIOS="me login" bench/run.sh
#   SCENARIOS="me_nocheck" bench/run.sh     (builds the bench-only `bench-no-revocation` variant)
#
# Phases (see bench/README.md):
#   1. build      release binary (and bench-only variants a scenario needs) + the argon2_rate bench
#   2. main       the peer's bench.sh in "both" mode: peer and Gatehouse rounds alternate
#   3. login pairs  LOGIN_PAIRS rounds alternating raw Argon2id (benches/argon2_rate.rs) and
#                 the Gatehouse login scenario, so the logins/s ratio is measured back to back
#   4. variants   one "both" run per bench-only build variant (e.g. me_nocheck)
#   5. summary    bench/summarize.py -> summary.txt + report.md in the run directory
#
# Knobs (environment):
#   ROUNDS=3 DURATION=10s           rounds per scenario and wrk duration (login: LOGIN_DURATION=5s)
#   SCENARIOS="me login me_during_login refresh jwks"   any of bench.sh's scenarios; me_nocheck
#                                   runs against a separate bench-no-revocation build
#   LOGIN_PAIRS=$ROUNDS ARGON2_SECONDS=5   login vs raw argon2 pairing (LOGIN_PAIRS=0 skips it)
#   PEER_ENV='JWT_ALG=ES256 JWT_KEY_OBJECTS=1'   peer configuration (Gatehouse signs ES256)
#   PEER_DIR=$REPO/../shared/peers/node-passport   CARGO_TARGET_DIR=$REPO/../target-bench
#   OUT_DIR=$REPO/bench/results     SKIP_BUILD=1 (reuse binaries already built)
#   GATEHOUSE_REV=  (e.g. HEAD: build and run a `git archive` snapshot of that commit instead of
#                   the working tree, for a reproducible build while the tree is being edited;
#                   built in $CARGO_TARGET_DIR/snapshot/, so the first snapshot build is a full one)
#   PG_HOST=127.0.0.1 PG_PORT=5432 PG_USER=postgres DB_NAME=gatehouse_bench (dropped and recreated)
#   REDIS_HOST=127.0.0.1 REDIS_PORT=6379 KEY_PREFIX=ghbench: (keys under the prefix are deleted)
#   GH_PORT= (default: a free port)  TENANT=default
#   GH_ENV=  extra settings for Gatehouse, e.g. 'GATEHOUSE__PASSWORDS__MAX_CONCURRENT_HASHES=4'
#            (rate limits are raised automatically for builds that have them: see bench_settings)
#   Passed through to bench.sh unchanged: THREADS CONNS LOGIN_CONNS LOGIN_DURATION REFRESH_CHAINS ...
set -euo pipefail

# the knobs as given, for the record (before defaults are filled in)
KNOBS="ROUNDS DURATION SCENARIOS LOGIN_PAIRS ARGON2_SECONDS PEER_ENV PEER_DIR CARGO_TARGET_DIR OUT_DIR SKIP_BUILD
  GATEHOUSE_REV GH_ENV GH_PORT TENANT PG_HOST PG_PORT PG_USER DB_NAME REDIS_HOST REDIS_PORT KEY_PREFIX
  THREADS CONNS LOGIN_CONNS LOGIN_DURATION REFRESH_CHAINS PEER_PORT"
GIVEN=""; for k in $KNOBS; do [ -n "${!k+x}" ] && GIVEN+="$k=$(printf '%q' "${!k}") "; done

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
PEER_DIR=$(cd "${PEER_DIR:-$REPO/../shared/peers/node-passport}" && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$(dirname "$REPO")/target-bench}
export ROUNDS=${ROUNDS:-3} DURATION=${DURATION:-10s}
SCENARIOS=${SCENARIOS:-me login me_during_login refresh jwks}
LOGIN_PAIRS=${LOGIN_PAIRS:-$ROUNDS}; ARGON2_SECONDS=${ARGON2_SECONDS:-5}
PEER_ENV=${PEER_ENV:-JWT_ALG=ES256 JWT_KEY_OBJECTS=1}
OUT_DIR=${OUT_DIR:-$BENCH_DIR/results}
PG_HOST=${PG_HOST:-127.0.0.1}; PG_PORT=${PG_PORT:-5432}; PG_USER=${PG_USER:-postgres}; DB_NAME=${DB_NAME:-gatehouse_bench}
REDIS_HOST=${REDIS_HOST:-127.0.0.1}; REDIS_PORT=${REDIS_PORT:-6379}; KEY_PREFIX=${KEY_PREFIX:-ghbench:}
TENANT=${TENANT:-default}
USERNAME_=alice; PASSWORD_='correct horse battery staple'
LOGIN_BODY_=$(printf '{"username":"%s","password":"%s"}' "$USERNAME_" "$PASSWORD_")

# Bench-only build variants (name -> cargo features) and the scenarios that need one. A scenario
# listed here runs in its own "both" phase against that variant; everything else runs against
# the plain release build in the main phase. To add one: a cargo feature, an entry in both
# maps, and path or smoke-test overrides in variant_env below if the variant needs them.
declare -A VARIANT_FEATURES=([release]="" [nocheck]="bench-no-revocation")
declare -A SCENARIO_VARIANT=([me_nocheck]=nocheck)

RUN_DIR=$(cd "$(mkdir -p "$OUT_DIR" && echo "$OUT_DIR")" && pwd)/$(date +%Y%m%d-%H%M%S)
mkdir -p "$RUN_DIR"
log() { printf '\n== %s  %s\n' "$(date +%T)" "$*" | tee -a "$RUN_DIR/run.log"; }

# --- cleanup: stop only what this script started -----------------------------------------
GH_PID=""; CHILD_PID=""
stop_gatehouse() {
  if [ -n "$GH_PID" ] && kill -0 "$GH_PID" 2>/dev/null; then
    kill -TERM "$GH_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$GH_PID" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$GH_PID" 2>/dev/null && kill -KILL "$GH_PID" 2>/dev/null
    wait "$GH_PID" 2>/dev/null || true
  fi
  GH_PID=""
}
cleanup() {
  local rc=$?
  # bench.sh stops its own peer from its EXIT trap when it gets TERM
  if [ -n "$CHILD_PID" ] && kill -0 "$CHILD_PID" 2>/dev/null; then kill -TERM "$CHILD_PID" 2>/dev/null || true; wait "$CHILD_PID" 2>/dev/null || true; fi
  stop_gatehouse
  [ $rc -ne 0 ] && echo "bench/run.sh failed (exit $rc); logs in $RUN_DIR" >&2
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# run a long child in the background so a signal to this script reaches the trap at once
run_child() { "$@" & CHILD_PID=$!; local rc=0; wait "$CHILD_PID" || rc=$?; CHILD_PID=""; return $rc; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# --- 0. tools ------------------------------------------------------------------------------
command -v wrk >/dev/null || { log "installing wrk"; apt-get install -y wrk >/dev/null || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }; }
for t in curl python3 psql redis-cli node npm cargo openssl ss; do command -v "$t" >/dev/null || { echo "missing $t" >&2; exit 1; }; done
[ -x "$PEER_DIR/bench.sh" ] || { echo "peer not found at $PEER_DIR (set PEER_DIR)" >&2; exit 1; }

# --- 1. build ------------------------------------------------------------------------------
# SRC: what is built and run (its config/ is used); the working tree unless GATEHOUSE_REV is set
SRC=$REPO; SRC_DESC="working tree of $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')"
if git -C "$REPO" --no-optional-locks status --porcelain --untracked-files=no 2>/dev/null | grep -q .; then SRC_DESC+=" + uncommitted changes"; fi
BUILD_TARGET=$CARGO_TARGET_DIR
if [ -n "${GATEHOUSE_REV:-}" ] && [ "${SKIP_BUILD:-0}" != 1 ]; then
  rev=$(git -C "$REPO" rev-parse --verify "$GATEHOUSE_REV^{commit}")
  SRC_DESC="commit ${rev:0:12} ($GATEHOUSE_REV, git archive snapshot)"
  # One fixed source path with a target dir of its own: cargo names workspace crates by their
  # path relative to the workspace and checks freshness by the mtimes of the files it compiled
  # last time, so checkouts at different paths sharing a target dir reuse each other's stale
  # artifacts. Extracted with the current time as mtime (-m), so a new revision always rebuilds.
  SRC=$CARGO_TARGET_DIR/snapshot/src; BUILD_TARGET=$CARGO_TARGET_DIR/snapshot/target
  if [ "$(cat "$SRC/.bench-rev" 2>/dev/null || true)" != "$rev" ]; then
    rm -rf "$CARGO_TARGET_DIR/snapshot/src"; mkdir -p "$SRC"
    git -C "$REPO" archive --format=tar "$rev" | tar -x -m -C "$SRC"
    echo "$rev" > "$SRC/.bench-rev"
  fi
fi
VARIANTS=(release)
for sc in $SCENARIOS; do
  v=${SCENARIO_VARIANT[$sc]:-}; [ -n "$v" ] && [[ " ${VARIANTS[*]} " != *" $v "* ]] && VARIANTS+=("$v")
done
BIN_DIR=$CARGO_TARGET_DIR/bench-bin
mkdir -p "$BIN_DIR"
build_variant() {  # copies the binary out, because every feature set writes target/release/gatehouse
  local v=$1 features=${VARIANT_FEATURES[$1]}
  log "cargo build --release ${features:+--features $features} (variant $v, $SRC_DESC, CARGO_TARGET_DIR=$BUILD_TARGET)"
  (cd "$SRC" && CARGO_TARGET_DIR=$BUILD_TARGET cargo build --release --locked --bin gatehouse ${features:+--features "$features"}) >> "$RUN_DIR/build.log" 2>&1 \
    || { tail -30 "$RUN_DIR/build.log" >&2; exit 1; }
  cp "$BUILD_TARGET/release/gatehouse" "$BIN_DIR/gatehouse-$v"
}
if [ "${SKIP_BUILD:-0}" = 1 ]; then
  # run what was built last, from the source it was built from (GATEHOUSE_REV is ignored)
  # shellcheck disable=SC1091
  [ -f "$BIN_DIR/build-info.sh" ] && . "$BIN_DIR/build-info.sh" && SRC=$BUILT_SRC && SRC_DESC="$BUILT_DESC, built earlier (SKIP_BUILD=1)"
else
  for v in "${VARIANTS[@]}"; do build_variant "$v"; done
  log "cargo bench --bench argon2_rate --no-run"
  (cd "$SRC" && CARGO_TARGET_DIR=$BUILD_TARGET cargo bench --locked --bench argon2_rate --no-run --message-format=json 2>>"$RUN_DIR/build.log") \
    | python3 -c 'import sys,json
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "argon2_rate" and m.get("executable"): print(m["executable"])' \
    > "$RUN_DIR/argon2_exe.txt" || { tail -30 "$RUN_DIR/build.log" >&2; exit 1; }
  cp "$(tail -1 "$RUN_DIR/argon2_exe.txt")" "$BIN_DIR/argon2_rate"
  printf 'BUILT_SRC=%q\nBUILT_DESC=%q\n' "$SRC" "$SRC_DESC" > "$BIN_DIR/build-info.sh"
fi
for v in "${VARIANTS[@]}"; do [ -x "$BIN_DIR/gatehouse-$v" ] || { echo "no $BIN_DIR/gatehouse-$v (run without SKIP_BUILD)" >&2; exit 1; }; done
[ -x "$BIN_DIR/argon2_rate" ] || { echo "no $BIN_DIR/argon2_rate (run without SKIP_BUILD)" >&2; exit 1; }

# Settings a load test needs, for the versions that have them (config has deny_unknown_fields,
# so a key an older build does not know would stop it from starting): per-IP rate limits would
# answer the login and refresh floods from 127.0.0.1 with 429 after a few requests.
bench_settings() {
  if grep -q 'login_per_ip' "$SRC/src/config.rs" 2>/dev/null; then
    local n=1000000000
    echo GATEHOUSE__LIMITS__LOGIN_PER_IP=$n GATEHOUSE__LIMITS__REGISTER_PER_IP=$n GATEHOUSE__LIMITS__REFRESH_PER_IP=$n \
      GATEHOUSE__LIMITS__TOKEN_PER_IP=$n GATEHOUSE__LIMITS__AUTHORIZE_PER_IP=$n
  fi
}

# --- run metadata --------------------------------------------------------------------------
{
  echo "date: $(date -u +%FT%TZ)"
  echo "command: ${GIVEN}bench/run.sh"
  echo "effective: ROUNDS=$ROUNDS DURATION=$DURATION SCENARIOS='$SCENARIOS' LOGIN_PAIRS=$LOGIN_PAIRS ARGON2_SECONDS=$ARGON2_SECONDS PEER_ENV='$PEER_ENV'"
  echo "host: $(nproc) cpus, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(awk '/MemTotal/ {printf "%.1f GiB RAM", $2/1048576}' /proc/meminfo), kernel $(uname -r)"
  echo "loadavg at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "gatehouse: $SRC_DESC"
  echo "gatehouse settings: $(bench_settings) ${GH_ENV:-}"
  echo "tools: $(rustc --version), node $(node --version), $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2), $(psql --version), redis $(redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" info server | awk -F: '/^redis_version/ {print $2}' | tr -d '\r')"
} > "$RUN_DIR/meta.txt"
cat "$RUN_DIR/meta.txt"

# --- Gatehouse lifecycle -------------------------------------------------------------------
prepare_state() {
  psql -q -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres -v ON_ERROR_STOP=1 \
    -c "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" -c "CREATE DATABASE $DB_NAME" >/dev/null
  redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" --scan --pattern "${KEY_PREFIX}*" \
    | xargs -r -n 500 redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" del >/dev/null
}
GH_URL=""
start_gatehouse() {  # start_gatehouse VARIANT
  local v=$1 port=${GH_PORT:-$(free_port)}
  port_busy "$port" && { echo "port $port is in use" >&2; exit 1; }
  GH_URL=http://127.0.0.1:$port
  (
    cd "$SRC"
    export GATEHOUSE_CONFIG_DIR=$SRC/config GATEHOUSE__SERVER__BIND=127.0.0.1:$port \
      GATEHOUSE__DATABASE__URL=postgres://$PG_USER@$PG_HOST:$PG_PORT/$DB_NAME \
      GATEHOUSE__REDIS__URL=redis://$REDIS_HOST:$REDIS_PORT GATEHOUSE__REDIS__KEY_PREFIX=$KEY_PREFIX \
      GATEHOUSE__SECRETS__MASTER_KEY=$MASTER_KEY GATEHOUSE__LOG__LEVEL=${GH_LOG_LEVEL:-warn}
    # shellcheck disable=SC2086
    exec env $(bench_settings) ${GH_ENV:-} "$BIN_DIR/gatehouse-$v" serve
  ) >> "$RUN_DIR/gatehouse-$v.log" 2>&1 &
  GH_PID=$!
  for _ in $(seq 150); do
    kill -0 "$GH_PID" 2>/dev/null || { echo "gatehouse exited; log:" >&2; tail -20 "$RUN_DIR/gatehouse-$v.log" >&2; exit 1; }
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$GH_URL/health/ready")" = 200 ] && break
    sleep 0.2
  done
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$GH_URL/health/ready")" = 200 ] || { echo "gatehouse not ready at $GH_URL" >&2; exit 1; }
  echo "gatehouse ($v) ready at $GH_URL, pid $GH_PID"
}
register_alice() {
  local code
  code=$(curl -s -o "$RUN_DIR/register.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    -d "$(printf '{"username":"%s","password":"%s","email":"alice@example.com"}' "$USERNAME_" "$PASSWORD_")" \
    "$GH_URL/t/$TENANT/auth/register")
  case $code in 201|409) ;; *) echo "register alice gave $code: $(cat "$RUN_DIR/register.json")" >&2; exit 1 ;; esac
}

# bench.sh settings for Gatehouse as the "target" system
target_env() {
  echo BASE_URL="$GH_URL" TARGET_PID="$GH_PID" DB_PORT="$PG_PORT" REDIS_PORT="$REDIS_PORT" \
    LOGIN_PATH="/t/$TENANT/auth/login" ME_PATH="/t/$TENANT/me" LOGOUT_PATH="/t/$TENANT/auth/logout" \
    REFRESH_PATH="/t/$TENANT/auth/refresh" JWKS_PATH="/t/$TENANT/.well-known/jwks.json"
}
# per-variant overrides: the no-revocation build serves me_nocheck on the normal /me path and
# cannot pass the "revoked token gets 401" smoke step
variant_env() {
  case $1 in
    nocheck) echo ME_NOCHECK_PATH="/t/$TENANT/me" LOGOUT_PATH= ;;
  esac
}
bench_sh() {  # bench_sh MODE OUT SCENARIOS [VAR=VALUE...]
  local mode=$1 out=$2 scen=$3; shift 3
  mkdir -p "$out"
  # shellcheck disable=SC2046
  run_child env $(target_env) LOGIN_BODY="$LOGIN_BODY_" PEER_ENV="$PEER_ENV" OUT_DIR="$out" SCENARIOS="$scen" "$@" \
    "$PEER_DIR/bench.sh" "$mode"
}

if [ -z "${MASTER_KEY:-}" ]; then MASTER_KEY=$(openssl rand -base64 32); fi
if port_busy "${PEER_PORT:-3000}"; then export PEER_PORT; PEER_PORT=$(free_port); fi

# --- 2. main phase: peer vs Gatehouse, alternating rounds ------------------------------------
MAIN_SCEN=""; for sc in $SCENARIOS; do [ -z "${SCENARIO_VARIANT[$sc]:-}" ] && MAIN_SCEN+="$sc "; done
MAIN_SCEN=${MAIN_SCEN% }
prepare_state
start_gatehouse release
register_alice
if [ -n "$MAIN_SCEN" ]; then
  log "main: bench.sh both, scenarios: $MAIN_SCEN"
  bench_sh both "$RUN_DIR/main" "$MAIN_SCEN" > >(tee -a "$RUN_DIR/run.log") 2>&1
fi

# --- 3. login vs raw Argon2id, back to back, on the same instance -------------------------
if [ "$LOGIN_PAIRS" -gt 0 ]; then
  log "login pairs: $LOGIN_PAIRS x (raw argon2 ${ARGON2_SECONDS}s, Gatehouse login ${LOGIN_DURATION:-5s})"
  printf 'pair\targon2_per_s\twall_s\tcpu_s\n' > "$RUN_DIR/argon2.tsv"
  raw_argon2() {  # rate (wall clock) and CPU seconds, so verifications per CPU-second can be compared too
    local line times TIMEFORMAT='%R %U %S'
    { time "$BIN_DIR/argon2_rate" "$ARGON2_SECONDS" > "$RUN_DIR/argon2-p$1.txt"; } 2> "$RUN_DIR/argon2-p$1.time"
    line=$(cat "$RUN_DIR/argon2-p$1.txt"); times=$(tail -1 "$RUN_DIR/argon2-p$1.time")
    echo "  p$1 raw     $line (wall/user/sys s: $times)" | tee -a "$RUN_DIR/run.log"
    printf '%s\t%s\t%s\n' "$1" "$(sed -n 's/.*: \([0-9.]*\) verifications\/s.*/\1/p' <<<"$line")" \
      "$(awk '{printf "%s\t%.2f", $1, $2 + $3}' <<<"$times")" >> "$RUN_DIR/argon2.tsv"
  }
  login_round() {
    local out=$RUN_DIR/login_pairs/p$1.log rc=0
    mkdir -p "$RUN_DIR/login_pairs"
    bench_sh target "$RUN_DIR/login_pairs/p$1" login ROUNDS=1 > "$out" 2>&1 || rc=$?
    grep -E '^  r1 |wrk failed|gave|failed' "$out" | sed "s/^  r1/  p$1/" | tee -a "$RUN_DIR/run.log" || true
    [ $rc -eq 0 ] || { echo "login round $1 failed, see $out" >&2; exit 1; }
  }
  for ((p = 1; p <= LOGIN_PAIRS; p++)); do  # alternate the order so drift does not favour one side
    if ((p % 2)); then raw_argon2 "$p"; login_round "$p"; else login_round "$p"; raw_argon2 "$p"; fi
  done
fi
stop_gatehouse

# --- 4. bench-only variants ------------------------------------------------------------------
for v in "${VARIANTS[@]}"; do
  [ "$v" = release ] && continue
  scen=""; for sc in $SCENARIOS; do [ "${SCENARIO_VARIANT[$sc]:-}" = "$v" ] && scen+="$sc "; done
  log "variant $v (features: ${VARIANT_FEATURES[$v]}): bench.sh both, scenarios: ${scen% }"
  start_gatehouse "$v"   # same database: alice exists
  # shellcheck disable=SC2046
  bench_sh both "$RUN_DIR/variant-$v" "${scen% }" $(variant_env "$v") > >(tee -a "$RUN_DIR/run.log") 2>&1
  stop_gatehouse
done

# --- 5. summary ------------------------------------------------------------------------------
log "summary"
python3 "$BENCH_DIR/summarize.py" "$RUN_DIR" | tee "$RUN_DIR/summary.txt"
echo "results: $RUN_DIR (summary.txt, report.md, raw wrk output under main/, login_pairs/, variant-*/)"
