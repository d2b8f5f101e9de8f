#!/usr/bin/env bash
# Property-based API testing with schemathesis against a live server and the committed spec:
# no server errors, no status codes, content types, headers or bodies outside the spec.
# Run by .ci/run after `cargo test` (which builds the debug binary this uses).
#
#   tests/schemathesis.sh            MAX_EXAMPLES=25 (per operation and phase)
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
BIN=${CARGO_TARGET_DIR:-$REPO/target}/debug/gatehouse
MAX_EXAMPLES=${MAX_EXAMPLES:-25}
command -v st >/dev/null || { echo "schemathesis is not installed (pip install schemathesis)" >&2; exit 1; }
[ -x "$BIN" ] || { echo "no debug binary at $BIN: run cargo build first" >&2; exit 1; }

WORK=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL=http://127.0.0.1:$PORT
PASSWORD=$(head -c 24 /dev/urandom | base64)
big=100000000
env GATEHOUSE_CONFIG_DIR="$REPO/config" GATEHOUSE__SERVER__BIND=127.0.0.1:$PORT \
  GATEHOUSE__DATABASE__URL="sqlite://$WORK/gatehouse.db?mode=rwc" GATEHOUSE__SECRETS__MASTER_KEY_FILE="$WORK/master.key" \
  GATEHOUSE__BOOTSTRAP__ADMIN_PASSWORD="$PASSWORD" GATEHOUSE__LOG__LEVEL=warn \
  GATEHOUSE__LIMITS__LOGIN_PER_IP=$big GATEHOUSE__LIMITS__REGISTER_PER_IP=$big GATEHOUSE__LIMITS__REFRESH_PER_IP=$big \
  GATEHOUSE__LIMITS__TOKEN_PER_IP=$big GATEHOUSE__LIMITS__AUTHORIZE_PER_IP=$big \
  GATEHOUSE__LIMITS__MAIL_PER_IP=$big GATEHOUSE__LIMITS__RECOVERY_PER_IP=$big \
  "$BIN" serve > "$WORK/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do curl -sf "$URL/health/ready" >/dev/null && break; sleep 0.2; done
TOKEN=$(curl -sf -X POST "$URL/t/system/auth/login" -H 'Content-Type: application/json' \
  -d "$(python3 -c 'import json,sys; print(json.dumps({"username": "admin", "password": sys.argv[1]}))' "$PASSWORD")" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

# Every phase, every check but one, with the settings of tests/schemathesis.toml (which
# operations may also answer 400 to schema-valid data, and why):
# - negative_data_rejection: schemathesis 4.32.5 itself crashes with it on this spec (a KeyError
#   in its coverage walker, a SystemError in its fuzzer), which reports nothing about the server.
# One worker: with two, Python 3.11's parser crashes inside hypothesis now and then ("AST
# constructor recursion depth mismatch") when both describe a strategy at once.
st --config-file "$REPO/tests/schemathesis.toml" run "$REPO/openapi/openapi.yaml" --url "$URL" \
  -H "Authorization: Bearer $TOKEN" --checks all --exclude-checks negative_data_rejection \
  --phases examples,coverage,fuzzing,stateful --max-examples "$MAX_EXAMPLES" -w 1
