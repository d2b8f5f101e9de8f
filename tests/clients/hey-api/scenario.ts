// The admin, user and client-app scenario, written against the SDK that @hey-api/openapi-ts
// generates from openapi/openapi.yaml (generated/, with its own fetch client). Every credential
// goes through the SDK's `auth` setting, which applies it where the spec's security schemes say
// (AdminBearer, UserBearer, ClientSecretBasic): no Authorization header is built here. `tsc`
// type-checks it against the generated SDK, then Node runs the compiled ES modules as they are.
// Run by tests/api/clients.rs with GATEHOUSE_URL, GATEHOUSE__BOOTSTRAP__ADMIN_PASSWORD, TENANT
// and PASSWORD set.
import assert from 'node:assert/strict';
import { createClient, createConfig } from './generated/client/index.js';
import {
  adminCreateClient,
  adminCreateTenant,
  adminCreateUser,
  adminListAuditEvents,
  getMe,
  getOpenIdConfiguration,
  introspectToken,
  login,
  logout,
  refresh,
  requestToken,
  revokeToken,
} from './generated/index.js';

const env = (k: string): string => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const baseUrl = env('GATEHOUSE_URL');
const tenant = env('TENANT');
const password = env('PASSWORD');

/** A client of its own per credential: the SDK sends `auth` wherever an operation asks for it. */
const clientWith = (auth?: string) => createClient(createConfig({ baseUrl, auth }));
const anonymous = clientWith();

// Operator login: the bootstrapped `admin` of tenant `system`.
const op = await login({
  client: anonymous,
  path: { tenant: 'system' },
  body: { username: 'admin', password: env('GATEHOUSE__BOOTSTRAP__ADMIN_PASSWORD') },
});
assert.ok(op.data, `operator login: ${JSON.stringify(op.error)}`);
const admin = clientWith(op.data.access_token);

// A tenant, a client app and a user.
const created = await adminCreateTenant({
  client: admin,
  body: { slug: tenant, display_name: 'hey-api client tenant' },
});
assert.equal(created.response.status, 201, JSON.stringify(created.error));
assert.ok(created.data);
assert.equal(created.data.slug, tenant);
assert.equal(created.data.status, 'active');

const app = await adminCreateClient({
  client: admin,
  path: { tenant },
  body: {
    name: 'Generated hey-api app',
    client_type: 'confidential',
    redirect_uris: ['https://app.example.com/callback'],
    grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
  },
});
assert.ok(app.data, JSON.stringify(app.error));
assert.ok(app.data.client_secret, 'a confidential client gets its secret once');

const user = await adminCreateUser({
  client: admin,
  path: { tenant },
  body: { username: 'hey-user', password, email: 'hey-user@example.com' },
});
assert.ok(user.data, JSON.stringify(user.error));

// The user logs in, calls /me, refreshes and logs out.
const session = await login({ client: anonymous, path: { tenant }, body: { username: 'hey-user', password } });
assert.ok(session.data, JSON.stringify(session.error));
assert.equal(session.data.token_type, 'Bearer');

const me = await getMe({ client: clientWith(session.data.access_token), path: { tenant } });
assert.ok(me.data, JSON.stringify(me.error));
assert.equal(me.data.id, user.data.id);
assert.equal(me.data.username, 'hey-user');

const refreshed = await refresh({
  client: anonymous,
  path: { tenant },
  body: { refresh_token: session.data.refresh_token },
});
assert.ok(refreshed.data, JSON.stringify(refreshed.error));
assert.notEqual(refreshed.data.refresh_token, session.data.refresh_token);
const signedIn = clientWith(refreshed.data.access_token);

const out = await logout({ client: signedIn, path: { tenant }, body: { everywhere: false } });
assert.equal(out.response.status, 204, JSON.stringify(out.error));

// The old token is refused with a typed problem document.
const after = await getMe({ client: signedIn, path: { tenant } });
assert.equal(after.response.status, 401);
assert.equal(after.data, undefined);
assert.ok(after.error);
assert.equal(after.error.code, 'invalid_token');
assert.equal(after.error.status, 401);

// The client app, with client_secret_basic from the SDK's auth setting: a token for itself,
// what introspection says about it, its revocation.
const discovery = await getOpenIdConfiguration({ client: anonymous, path: { tenant } });
assert.ok(discovery.data, JSON.stringify(discovery.error));
assert.ok(discovery.data.token_endpoint_auth_methods_supported.includes('client_secret_basic'));
const appClient = clientWith(`${app.data.client_id}:${app.data.client_secret}`);
const issued = await requestToken({ client: appClient, path: { tenant }, body: { grant_type: 'client_credentials' } });
assert.ok(issued.data, JSON.stringify(issued.error));
assert.equal(issued.data.token_type, 'Bearer');
const serviceToken = issued.data.access_token;
const active = await introspectToken({ client: appClient, path: { tenant }, body: { token: serviceToken } });
assert.ok(active.data, JSON.stringify(active.error));
assert.equal(active.data.active, true);
assert.equal(active.data.client_id, app.data.client_id);
const revoked = await revokeToken({ client: appClient, path: { tenant }, body: { token: serviceToken } });
assert.equal(revoked.response.status, 200, JSON.stringify(revoked.error));
const inactive = await introspectToken({ client: appClient, path: { tenant }, body: { token: serviceToken } });
assert.deepEqual(inactive.data, { active: false });
// Without credentials the SDK sends none, and the endpoint answers with an RFC 6749 error.
const refused = await requestToken({ client: anonymous, path: { tenant }, body: { grant_type: 'client_credentials' } });
assert.equal(refused.response.status, 401);
assert.equal(refused.error?.error, 'invalid_client');

// The audit log of the tenant shows the admin changes and the login.
const audit = await adminListAuditEvents({ client: admin, path: { tenant }, query: { limit: 50 } });
assert.ok(audit.data, JSON.stringify(audit.error));
const types = audit.data.items.map((e) => e.event_type);
for (const t of ['tenant.created', 'client.created', 'user.created', 'login.succeeded']) {
  assert.ok(types.includes(t), `audit log lacks ${t}: ${types.join(', ')}`);
}

console.log('hey-api client: ok');
