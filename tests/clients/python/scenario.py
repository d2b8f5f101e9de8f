"""The admin and user scenario, written against a Python client generated from
openapi/openapi.yaml by openapi-python-client (package `gatehouse_client`, on PYTHONPATH).
Run by tests/api/clients.rs with GATEHOUSE_URL, OPERATOR_PASSWORD, TENANT and PASSWORD set."""
import os

from gatehouse_client import AuthenticatedClient, Client
from gatehouse_client.api.admin_audit import list_audit_events
from gatehouse_client.api.admin_clients import create_client
from gatehouse_client.api.admin_tenants import create_tenant
from gatehouse_client.api.admin_users import create_user
from gatehouse_client.api.auth import login, logout, refresh
from gatehouse_client.api.me import get_me
from gatehouse_client.models import (
    ClientType,
    CreateClientRequest,
    CreateTenantRequest,
    CreateUserRequest,
    GrantType,
    LoginRequest,
    LogoutRequest,
    Problem,
    RefreshRequest,
    TenantStatus,
    TokenResponse,
)

URL = os.environ["GATEHOUSE_URL"]
TENANT = os.environ["TENANT"]
PASSWORD = os.environ["PASSWORD"]

anonymous = Client(base_url=URL, raise_on_unexpected_status=True)


def as_user(token: str) -> AuthenticatedClient:
    return AuthenticatedClient(base_url=URL, token=token, raise_on_unexpected_status=True)


def tokens(answer: object) -> TokenResponse:
    assert isinstance(answer, TokenResponse), answer
    return answer


# Operator login: the bootstrapped `admin` of tenant `system`.
op = tokens(login.sync("system", client=anonymous,
                       body=LoginRequest(username="admin", password=os.environ["OPERATOR_PASSWORD"])))
admin = as_user(op.access_token)

# A tenant, a client app and a user.
created = create_tenant.sync_detailed(
    client=admin, body=CreateTenantRequest(slug=TENANT, display_name="Python client tenant"))
assert created.status_code == 201, created.content
assert created.parsed.slug == TENANT and created.parsed.status == TenantStatus.ACTIVE

app = create_client.sync(TENANT, client=admin, body=CreateClientRequest(
    name="Generated Python app",
    client_type=ClientType.CONFIDENTIAL,
    redirect_uris=["https://app.example.com/callback"],
    grant_types=[GrantType.AUTHORIZATION_CODE, GrantType.REFRESH_TOKEN],
))
assert not isinstance(app, Problem), app
assert app.client_secret, "a confidential client gets its secret once"

user = create_user.sync(TENANT, client=admin, body=CreateUserRequest(
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

# The audit log of the tenant shows the admin changes and the login.
audit = list_audit_events.sync(TENANT, client=admin, limit=50)
assert not isinstance(audit, Problem), audit
types = [e.event_type for e in audit.items]
for t in ["tenant.created", "client.created", "user.created", "login.succeeded"]:
    assert t in types, f"audit log lacks {t}: {types}"
assert next(e for e in audit.items if e.event_type == "login.succeeded").user_id == user.id

print("python client: ok")
