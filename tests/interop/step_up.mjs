// A relying party written with openid-client asks for a second factor (`acr_values`, with
// `max_age` so it checks `auth_time` too) and validates what comes back: the user signs in
// through the hosted form, then the hosted second step with a code from pyotp, and the ID
// token says `acr` urn:gatehouse:loa:2fa and `amr` [pwd, otp, mfa]. Run by
// tests/api/interop.rs with ISSUER, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, USERNAME, PASSWORD
// and TOTP_SECRET (the user's enrolled authenticator app).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as client from 'openid-client';

const env = (k) => { const v = process.env[k]; if (!v) throw new Error(`${k} is not set`); return v; };
const issuer = env('ISSUER');
const TWO = 'urn:gatehouse:loa:2fa';

const config = await client.discovery(
  new URL(issuer), env('CLIENT_ID'), undefined, client.ClientSecretBasic(env('CLIENT_SECRET')),
  { execute: [client.allowInsecureRequests] },
);
assert.ok(config.serverMetadata().acr_values_supported.includes(TWO));

const verifier = client.randomPKCECodeVerifier();
const state = client.randomState();
const nonce = client.randomNonce();
const authUrl = client.buildAuthorizationUrl(config, {
  redirect_uri: env('REDIRECT_URI'), scope: 'openid profile', acr_values: TWO, max_age: '300',
  code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state, nonce,
});

let cookies = '';
const keep = (res) => {
  const fresh = res.headers.getSetCookie().map((c) => c.split(';')[0]);
  cookies = [cookies, ...fresh].filter(Boolean).join('; ');
};
const field = (html, name) => html.match(new RegExp(`name="${name}" value="([^"]*)"`))[1];
const post = async (path, form) => {
  const res = await fetch(new URL(path, issuer), { method: 'POST', body: new URLSearchParams(form), headers: { cookie: cookies }, redirect: 'manual' });
  keep(res);
  return res;
};

const page = await fetch(authUrl, { redirect: 'manual' });
keep(page);
const html = await page.text();
const slug = new URL(issuer).pathname;
const step = await post(`${slug}/login`, { request: field(html, 'request'), csrf: field(html, 'csrf'), username: env('USERNAME'), password: env('PASSWORD') });
assert.equal(step.status, 200, 'the second step is a page, not yet a redirect');
const stepHtml = await step.text();
assert.match(stepHtml, /Two-step verification/);
const code = execFileSync('python3', ['-c', 'import pyotp, sys; print(pyotp.TOTP(sys.argv[1]).now())', env('TOTP_SECRET')]).toString().trim();
const done = await post(`${slug}/login/second-factor`, { challenge: field(stepHtml, 'challenge'), csrf: field(stepHtml, 'csrf'), code });
assert.equal(done.status, 303);

const tokens = await client.authorizationCodeGrant(config, new URL(done.headers.get('location')), {
  pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true, maxAge: 300,
});
const claims = tokens.claims();
assert.equal(claims.acr, TWO);
assert.deepEqual(claims.amr, ['pwd', 'otp', 'mfa']);
assert.ok(typeof claims.auth_time === 'number');
const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
assert.equal(refreshed.claims().acr, TWO, 'a refresh keeps the acr');
console.log('openid-client step-up: ok');
