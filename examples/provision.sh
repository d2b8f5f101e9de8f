#!/usr/bin/env bash
# Provision a tenant the way an operator would, through the admin API: a tenant, a
# confidential client app, a tenant admin and some users. Safe to re-run: creates carry an
# Idempotency-Key, so a retried request returns the first result instead of a duplicate.
#
#   GATEHOUSE_URL=http://127.0.0.1:8080 GATEHOUSE__BOOTSTRAP__ADMIN_PASSWORD=... examples/provision.sh [tenant-slug]
#
# GATEHOUSE__BOOTSTRAP__ADMIN_PASSWORD is the password of the operator `admin` in tenant `system`:
# the one the server was started with, or the one it printed once at its first start.
set -euo pipefail

URL=${GATEHOUSE_URL:-http://127.0.0.1:8080}
TENANT=${1:-acme}
: "${GATEHOUSE__BOOTSTRAP__ADMIN_PASSWORD:?set GATEHOUSE__BOOTSTRAP__ADMIN_PASSWORD (the system admin password)}"
command -v jq >/dev/null || { echo "jq is required" >&2; exit 1; }

# call METHOD PATH [JSON] [IDEMPOTENCY_KEY]: prints the body, fails loudly on an error status.
call() {
  local method=$1 path=$2 body=${3:-} key=${4:-} out status
  local args=(-sS -X "$method" "$URL$path" -H "Authorization: Bearer $TOKEN" -w '\n%{http_code}')
  [ -n "$body" ] && args+=(-H 'Content-Type: application/json' -d "$body")
  [ -n "$key" ] && args+=(-H "Idempotency-Key: $key")
  out=$(curl "${args[@]}")
  status=${out##*$'\n'}
  out=${out%$'\n'*}
  if [ "$status" -ge 400 ]; then
    echo "$method $path -> $status: $out" >&2
    return 1
  fi
  printf '%s' "$out"
}

echo "== operator login"
TOKEN=$(curl -sS -X POST "$URL/t/system/auth/login" -H 'Content-Type: application/json' \
  -d "$(jq -n --arg p "$GATEHOUSE__BOOTSTRAP__ADMIN_PASSWORD" '{username: "admin", password: $p}')" | jq -er .access_token)

echo "== tenant $TENANT"
call POST /admin/v1/tenants "$(jq -n --arg s "$TENANT" '{
  slug: $s, display_name: ($s | ascii_upcase),
  settings: {registration_open: false, access_token_ttl_secs: 900,
             branding: {name: ($s | ascii_upcase), primary_color: "#0b6e4f"}}}')" "tenant-$TENANT" \
  | jq '{slug, issuer, status}'

echo "== confidential client (its secret is shown once: store it now)"
call POST "/admin/v1/tenants/$TENANT/clients" '{
  "name": "Web shop", "client_type": "confidential",
  "redirect_uris": ["https://shop.example.com/callback"],
  "post_logout_redirect_uris": ["https://shop.example.com/"],
  "grant_types": ["authorization_code", "refresh_token"],
  "scopes": ["openid", "profile", "email", "offline_access"]}' "client-$TENANT-shop" \
  | jq '{client_id, client_secret}'

echo "== tenant admin"
call POST "/admin/v1/tenants/$TENANT/users" '{
  "username": "ops-lead", "email": "ops-lead@example.com", "email_verified": true,
  "password": "a long tenant admin passphrase", "roles": ["tenant-admin"]}' "user-$TENANT-ops-lead" \
  | jq '{id, username, roles}'

echo "== users"
for name in alice bob carol; do
  call POST "/admin/v1/tenants/$TENANT/users" "$(jq -n --arg n "$name" '{
    username: $n, email: ($n + "@example.com"), password: ("initial passphrase for " + $n)}')" "user-$TENANT-$name" \
    | jq -c '{id, username}'
done

echo "== check: alice logs in to $TENANT"
curl -sS -X POST "$URL/t/$TENANT/auth/login" -H 'Content-Type: application/json' \
  -d '{"username": "alice", "password": "initial passphrase for alice"}' | jq -e '{token_type, expires_in}'

echo "== audit trail"
call GET "/admin/v1/tenants/$TENANT/audit-events?limit=10" | jq -r '.items[] | "\(.created_at)  \(.event_type)  \(.outcome)"'
