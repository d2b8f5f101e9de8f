// The admin and user scenario, written against a TypeScript client generated from
// openapi/openapi.yaml (openapi-typescript types + openapi-fetch). `tsc` type-checks it against
// the generated types before it runs, so a spec change that breaks callers fails here.
// openapi-fetch has no auth setting (it sends what it is given), so the bearer header is passed
// per call here; the SDK scenario (hey-api/scenario.ts) uses the SDK's own auth settings. Run by
// tests/api/clients.rs with GATEHOUSE_URL, GATEHOUSE__BOOTSTRAP__ADMIN_PASSWORD, TENANT and
// PASSWORD set.
import assert from 'node:assert/strict';
import createClient from 'openapi-fetch';
import type { paths } from './generated/schema.js';

const env = (k: string): string => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const tenant = env('TENANT');
const password = env('PASSWORD');
const api = createClient<paths>({ baseUrl: env('GATEHOUSE_URL') });
const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

// Operator login: the bootstrapped `admin` of tenant `system`.
const op = await api.POST('/t/{tenant}/auth/login', {
  params: { path: { tenant: 'system' } },
  body: { username: 'admin', password: env('GATEHOUSE__BOOTSTRAP__ADMIN_PASSWORD') },
});
assert.ok(op.data, `operator login: ${JSON.stringify(op.error)}`);
const admin = bearer(op.data.access_token);

// A tenant, a client app and a user.
const created = await api.POST('/admin/v1/tenants', {
  headers: admin,
  body: { slug: tenant, display_name: 'TypeScript client tenant' },
});
assert.equal(created.response.status, 201, JSON.stringify(created.error));
assert.ok(created.data);
assert.equal(created.data.slug, tenant);
assert.equal(created.data.status, 'active');

const app = await api.POST('/admin/v1/tenants/{tenant}/clients', {
  headers: admin,
  params: { path: { tenant } },
  body: {
    name: 'Generated TS app',
    client_type: 'confidential',
    redirect_uris: ['https://app.example.com/callback'],
    grant_types: ['authorization_code', 'refresh_token'],
  },
});
assert.ok(app.data, JSON.stringify(app.error));
assert.ok(app.data.client_secret, 'a confidential client gets its secret once');

const user = await api.POST('/admin/v1/tenants/{tenant}/users', {
  headers: admin,
  params: { path: { tenant } },
  body: { username: 'ts-user', password, email: 'ts-user@example.com' },
});
assert.ok(user.data, JSON.stringify(user.error));

// The user logs in, calls /me, refreshes and logs out.
const login = await api.POST('/t/{tenant}/auth/login', {
  params: { path: { tenant } },
  body: { username: 'ts-user', password },
});
assert.ok(login.data, JSON.stringify(login.error));
assert.equal(login.data.token_type, 'Bearer');

const me = await api.GET('/t/{tenant}/me', { params: { path: { tenant } }, headers: bearer(login.data.access_token) });
assert.ok(me.data, JSON.stringify(me.error));
assert.equal(me.data.id, user.data.id);
assert.equal(me.data.username, 'ts-user');

const refreshed = await api.POST('/t/{tenant}/auth/refresh', {
  params: { path: { tenant } },
  body: { refresh_token: login.data.refresh_token },
});
assert.ok(refreshed.data, JSON.stringify(refreshed.error));
assert.notEqual(refreshed.data.refresh_token, login.data.refresh_token);
const access = refreshed.data.access_token;

const out = await api.POST('/t/{tenant}/auth/logout', {
  params: { path: { tenant } },
  headers: bearer(access),
  body: { everywhere: false },
});
assert.equal(out.response.status, 204, JSON.stringify(out.error));

// The old token is refused with a typed problem document.
const after = await api.GET('/t/{tenant}/me', { params: { path: { tenant } }, headers: bearer(access) });
assert.equal(after.response.status, 401);
assert.equal(after.data, undefined);
assert.ok(after.error);
assert.equal(after.error.code, 'invalid_token');
assert.equal(after.error.status, 401);

// The audit log of the tenant shows the admin changes and the login.
const audit = await api.GET('/admin/v1/tenants/{tenant}/audit-events', {
  headers: admin,
  params: { path: { tenant }, query: { limit: 50 } },
});
assert.ok(audit.data, JSON.stringify(audit.error));
const types = audit.data.items.map((e) => e.event_type);
for (const t of ['tenant.created', 'client.created', 'user.created', 'login.succeeded']) {
  assert.ok(types.includes(t), `audit log lacks ${t}: ${types.join(', ')}`);
}
const loginEvent = audit.data.items.find((e) => e.event_type === 'login.succeeded');
assert.equal(loginEvent?.user_id, user.data.id);

console.log('typescript client: ok');
