"""The admin, user and client-app scenario, written against a Python client generated from
openapi/openapi.yaml by openapi-python-client (package `gatehouse_client`, on PYTHONPATH).
Credentials go through the client's own auth settings (`AuthenticatedClient`'s token and
prefix), never a hand-built header. Run by tests/api/clients.rs with GATEHOUSE_URL,
GATEHOUSE__BOOTSTRAP__ADMIN_PASSWORD, TENANT and PASSWORD set."""
import base64
import os

from gatehouse_client import AuthenticatedClient, Client
from gatehouse_client.api.admin_audit import admin_list_audit_events
from gatehouse_client.api.admin_clients import admin_create_client
from gatehouse_client.api.admin_tenants import admin_create_tenant
from gatehouse_client.api.admin_users import admin_create_user
from gatehouse_client.api.auth import login, logout, refresh
from gatehouse_client.api.me import get_me
from gatehouse_client.api.oidc import introspect_token, request_token, revoke_token
from gatehouse_client.models import (
    ClientType,
    CreateClientRequest,
    CreateTenantRequest,
    CreateUserRequest,
    GrantType,
    IntrospectForm,
    IntrospectionBody,
    LoginRequest,
    LogoutRequest,
    Problem,
    RefreshRequest,
    RevokeForm,
    SessionTokens,
    TenantStatus,
    TokenBody,
    TokenForm,
)

URL = os.environ["GATEHOUSE_URL"]
TENANT = os.environ["TENANT"]
PASSWORD = os.environ["PASSWORD"]

anonymous = Client(base_url=URL, raise_on_unexpected_status=True)


def as_user(token: str) -> AuthenticatedClient:
    return AuthenticatedClient(base_url=URL, token=token, raise_on_unexpected_status=True)


def tokens(answer: object) -> SessionTokens:
    assert isinstance(answer, SessionTokens), answer
    return answer


# Operator login: the bootstrapped `admin` of tenant `system`.
op = tokens(login.sync("system", client=anonymous,
                       body=LoginRequest(username="admin", password=os.environ["GATEHOUSE__BOOTSTRAP__ADMIN_PASSWORD"])))
admin = as_user(op.access_token)

# A tenant, a client app and a user.
created = admin_create_tenant.sync_detailed(
    client=admin, body=CreateTenantRequest(slug=TENANT, display_name="Python client tenant"))
assert created.status_code == 201, created.content
assert created.parsed.slug == TENANT and created.parsed.status == TenantStatus.ACTIVE

app = admin_create_client.sync(TENANT, client=admin, body=CreateClientRequest(
    name="Generated Python app",
    client_type=ClientType.CONFIDENTIAL,
    redirect_uris=["https://app.example.com/callback"],
    grant_types=[GrantType.AUTHORIZATION_CODE, GrantType.REFRESH_TOKEN, GrantType.CLIENT_CREDENTIALS],
))
assert not isinstance(app, Problem), app
assert app.client_secret, "a confidential client gets its secret once"

user = admin_create_user.sync(TENANT, client=admin, body=CreateUserRequest(
    username="py-user", password=PASSWORD, email="py-user@example.com"))
assert not isinstance(user, Problem), user

# The user logs in, calls /me, refreshes and logs out.
session = tokens(login.sync(TENANT, client=anonymous, body=LoginRequest(username="py-user", password=PASSWORD)))
me = get_me.sync(TENANT, client=as_user(session.access_token))
assert not isinstance(me, Problem), me
assert me.id == user.id and me.username == "py-user"

rotated = tokens(refresh.sync(TENANT, client=anonymous, body=RefreshRequest(refresh_token=session.refresh_token)))
assert rotated.refresh_token != session.refresh_token

out = logout.sync_detailed(TENANT, client=as_user(rotated.access_token), body=LogoutRequest(everywhere=False))
assert out.status_code == 204, out.content

# The old token is refused with a typed problem document.
after = get_me.sync_detailed(TENANT, client=as_user(rotated.access_token))
assert after.status_code == 401
assert isinstance(after.parsed, Problem) and after.parsed.code == "invalid_token", after.parsed

# The client app, with client_secret_basic as the client's auth setting: a token for itself,
# what introspection says about it, its revocation.
basic = base64.b64encode(f"{app.client_id}:{app.client_secret}".encode()).decode()
app_client = AuthenticatedClient(base_url=URL, token=basic, prefix="Basic", raise_on_unexpected_status=True)
issued = request_token.sync(TENANT, client=app_client, body=TokenForm(grant_type="client_credentials"))
assert isinstance(issued, TokenBody), issued
described = introspect_token.sync(TENANT, client=app_client, body=IntrospectForm(token=issued.access_token))
assert isinstance(described, IntrospectionBody) and described.active, described
assert described.client_id == app.client_id
revoked = revoke_token.sync_detailed(TENANT, client=app_client, body=RevokeForm(token=issued.access_token))
assert revoked.status_code == 200, revoked.content
after_revoke = introspect_token.sync(TENANT, client=app_client, body=IntrospectForm(token=issued.access_token))
assert isinstance(after_revoke, IntrospectionBody) and not after_revoke.active, after_revoke

# The audit log of the tenant shows the admin changes and the login.
audit = admin_list_audit_events.sync(TENANT, client=admin, limit=50)
assert not isinstance(audit, Problem), audit
types = [e.event_type for e in audit.items]
for t in ["tenant.created", "client.created", "user.created", "login.succeeded"]:
    assert t in types, f"audit log lacks {t}: {types}"
assert next(e for e in audit.items if e.event_type == "login.succeeded").user_id == user.id

print("python client: ok")
