// A relying party written with openid-client (a certified OpenID Connect library) against a
// live Gatehouse: discovery, code + PKCE login, ID token validation, userinfo, refresh,
// introspection, revocation and RP-initiated logout. Run by tests/api/interop.rs, which starts
// the server and passes ISSUER, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, POST_LOGOUT_URI,
// USERNAME, PASSWORD. The user signs in through the hosted HTML form, driven with fetch.
import assert from 'node:assert/strict';
import * as client from 'openid-client';

const env = (k) => { const v = process.env[k]; if (!v) throw new Error(`${k} is not set`); return v; };
const issuer = env('ISSUER');
const redirectUri = env('REDIRECT_URI');
const postLogoutUri = env('POST_LOGOUT_URI');

const config = await client.discovery(
  new URL(issuer), env('CLIENT_ID'), undefined, client.ClientSecretBasic(env('CLIENT_SECRET')),
  { execute: [client.allowInsecureRequests] },
);
assert.equal(config.serverMetadata().issuer, issuer);

// Code + PKCE.
const verifier = client.randomPKCECodeVerifier();
const state = client.randomState();
const nonce = client.randomNonce();
const authUrl = client.buildAuthorizationUrl(config, {
  redirect_uri: redirectUri, scope: 'openid profile email offline_access',
  code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state, nonce,
});

// The hosted form, as a browser would submit it.
const page = await fetch(authUrl, { redirect: 'manual' });
assert.equal(page.status, 200);
const html = await page.text();
const field = (name) => html.match(new RegExp(`name="${name}" value="([^"]*)"`))[1];
const cookies = page.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
const form = new URLSearchParams({ request: field('request'), csrf: field('csrf'), username: env('USERNAME'), password: env('PASSWORD') });
const action = new URL(html.match(/<form method="POST" action="([^"]+)"/)[1], issuer);
const signedIn = await fetch(action, { method: 'POST', body: form, headers: { cookie: cookies }, redirect: 'manual' });
assert.equal(signedIn.status, 303);
const callback = new URL(signedIn.headers.get('location'));

const tokens = await client.authorizationCodeGrant(config, callback, {
  pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true,
});
const claims = tokens.claims();
assert.equal(claims.preferred_username, env('USERNAME'));
assert.ok(tokens.refresh_token, 'a refresh token with offline_access');

const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
assert.equal(info.sub, claims.sub);

const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
assert.notEqual(refreshed.refresh_token, tokens.refresh_token);
assert.equal(refreshed.claims().sub, claims.sub);

const live = await client.tokenIntrospection(config, refreshed.access_token);
assert.equal(live.active, true);
assert.equal(live.sub, claims.sub);

await client.tokenRevocation(config, refreshed.refresh_token);
await assert.rejects(client.refreshTokenGrant(config, refreshed.refresh_token), (e) => e.error === 'invalid_grant');

const logoutUrl = client.buildEndSessionUrl(config, {
  id_token_hint: refreshed.id_token, post_logout_redirect_uri: postLogoutUri, state: 'bye',
});
const loggedOut = await fetch(logoutUrl, { headers: { cookie: cookies }, redirect: 'manual' });
assert.equal(loggedOut.status, 303);
assert.equal(loggedOut.headers.get('location'), `${postLogoutUri}?state=bye`);
const dead = await client.tokenIntrospection(config, refreshed.access_token);
assert.equal(dead.active, false, 'tokens of the ended session are revoked');

console.log('openid-client interop: ok');
