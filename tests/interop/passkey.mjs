// Passkeys in a real browser: Debian's Chromium driven by playwright-core, with the DevTools
// protocol's virtual WebAuthn authenticator (CTAP2, internal, resident keys, user verification).
// Against a live Gatehouse on http://localhost (BASE): a user enrols a passkey on the hosted page
// (step-up with acr_values), signs in usernameless with it, uses it as the second step after
// the password; spent ceremonies replayed over HTTP are refused; the JSON API signs in with it,
// renames and deletes it; a passkey-only account is created and a password cannot open it.
// Every page is checked with axe-core and photographed into SCREENSHOT_DIR. Run by
// tests/api/passkeys.rs with BASE, ISSUER, CLIENT_ID, CALLBACK_PORT, USERNAME, PASSWORD,
// SCREENSHOT_DIR and SHOT_PREFIX.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import axe from 'axe-core';
import { chromium } from 'playwright-core';

const env = (k) => { const v = process.env[k]; if (!v) throw new Error(`${k} is not set`); return v; };
const base = env('BASE');
const issuer = env('ISSUER');
const redirectUri = `http://127.0.0.1:${env('CALLBACK_PORT')}/callback`;

let received;
let waiting = [];
const server = http.createServer((req, res) => {
  if (req.url.startsWith('/callback')) {
    received = new URL(req.url, redirectUri);
    waiting.forEach((w) => w());
    waiting = [];
  }
  res.end('<!doctype html><title>callback</title><p>signed in</p>');
});
// The next redirect back to the app (whatever page the browser is on now).
const callback = () => new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error('the browser did not return to the app')), 20000);
  waiting.push(() => { clearTimeout(timer); resolve(); });
});
let page;
// Runs `action` and waits until the browser is back at the app and has loaded its page.
async function backAtApp(action) {
  await Promise.all([callback(), action]);
  await page.waitForURL((u) => u.toString().startsWith(redirectUri));
}
await new Promise((r) => server.listen(Number(env('CALLBACK_PORT')), '127.0.0.1', r));

function authorizeUrl(extra = {}) {
  const verifier = randomBytes(32).toString('base64url');
  const u = new URL(`${issuer}/oauth2/authorize`);
  u.search = new URLSearchParams({
    response_type: 'code', client_id: env('CLIENT_ID'), redirect_uri: redirectUri, scope: 'openid',
    state: 's', code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256', ...extra,
  }).toString();
  return u.toString();
}

async function accessible(page, name) {
  await page.evaluate(axe.source);
  const result = await page.evaluate(() => window.axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'best-practice'] }));
  const found = result.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  assert.deepEqual(found, [], `${name}: axe-core violations`);
  await page.screenshot({ path: path.join(env('SCREENSHOT_DIR'), `${env('SHOT_PREFIX')}-${name}.png`), fullPage: true });
}

// Real HTTP from outside the browser.
async function postJson(p, body, token) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(`${base}${p}`, { method: 'POST', headers, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json().catch(() => null) };
}
async function call(method, p, token, body) {
  const res = await fetch(`${base}${p}`, {
    method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, body: await res.json().catch(() => null) };
}
const claims = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());

// The browser's side of a JSON ceremony: options in, PublicKeyCredential JSON out.
async function ceremony(page, kind, options) {
  return page.evaluate(async ({ kind, options }) => {
    const pk = kind === 'create'
      ? PublicKeyCredential.parseCreationOptionsFromJSON(options.publicKey)
      : PublicKeyCredential.parseRequestOptionsFromJSON(options.publicKey);
    const cred = await navigator.credentials[kind]({ publicKey: pk });
    return cred.toJSON();
  }, { kind, options });
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  page = await browser.newPage();
  const violations = [];
  page.on('console', (m) => { if (m.text().includes('Content Security Policy')) violations.push(m.text()); });
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true,
      isUserVerified: true, automaticPresenceSimulation: true },
  });
  const passwordSignIn = async (extra) => {
    await page.goto(authorizeUrl(extra));
    await page.getByLabel('Username').fill(env('USERNAME'));
    await page.getByLabel('Password').fill(env('PASSWORD'));
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  };

  // 1. Enrolment at sign-in (the app asks for a second factor): a passkey instead of an app.
  await passwordSignIn({ acr_values: 'urn:gatehouse:loa:2fa' });
  await page.getByRole('heading', { name: 'Set up two-step verification' }).waitFor();
  const create = page.getByRole('button', { name: 'Create a passkey' });
  await create.waitFor();
  await accessible(page, 'enrol');
  await backAtApp(create.click());
  assert.ok(received.searchParams.get('code'), 'back at the app after enrolling a passkey');
  const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  assert.equal(credentials.length, 1);
  assert.ok(credentials[0].isResidentCredential, 'the passkey is discoverable');

  // 2. Without JavaScript the sign-in page is the password form (the passkey form stays
  //    hidden), and the username field offers passkeys as autofill to browsers that can.
  const plain = await browser.newContext({ javaScriptEnabled: false });
  const noJs = await plain.newPage();
  await noJs.goto(authorizeUrl({ prompt: 'login' }));
  assert.equal(await noJs.getByLabel('Username').getAttribute('autocomplete'), 'username webauthn');
  assert.equal(await noJs.getByRole('button', { name: 'Sign in with a passkey' }).count(), 0);
  await noJs.getByLabel('Username').fill(env('USERNAME'));
  await noJs.getByLabel('Password').fill(env('PASSWORD'));
  await noJs.getByRole('button', { name: 'Sign in', exact: true }).click();
  await noJs.getByRole('heading', { name: 'Two-step verification' }).waitFor();
  await plain.close();

  //    Conditional UI: with a discoverable passkey, the autofill request signs the user in as
  //    the page opens (the virtual authenticator picks the passkey at once).
  received = undefined;
  await backAtApp(page.goto(authorizeUrl({ prompt: 'login' })));
  assert.ok(received.searchParams.get('code'), 'signed in by autofill, without a username');

  //    The button, as in browsers without conditional UI (the rest of this run is one).
  await page.addInitScript(() => { PublicKeyCredential.isConditionalMediationAvailable = async () => false; });
  received = undefined;
  await page.goto(authorizeUrl({ prompt: 'login' }));
  const passkeyButton = page.getByRole('button', { name: 'Sign in with a passkey' });
  await passkeyButton.waitFor();
  await accessible(page, 'sign-in');
  await backAtApp(passkeyButton.click());
  assert.ok(received.searchParams.get('code'), 'signed in without a username');

  // 3. The second step after the password: the passkey answers it. The spent form, posted
  //    again with the browser's cookies, is refused.
  received = undefined;
  let spentForm;
  page.on('request', (r) => { if (r.url().endsWith('/login/passkey/verify')) spentForm = r.postData(); });
  await passwordSignIn({ prompt: 'login' });
  await page.getByRole('heading', { name: 'Two-step verification' }).waitFor();
  const usePasskey = page.getByRole('button', { name: 'Use a passkey' });
  await usePasskey.waitFor();
  await accessible(page, 'second-step');
  await backAtApp(usePasskey.click());
  assert.ok(received.searchParams.get('code'), 'the passkey passed the second step');
  const replayed = await page.context().request.post(`${issuer}/login/passkey/verify`, {
    headers: { 'content-type': 'application/x-www-form-urlencoded' }, data: spentForm, maxRedirects: 0,
  });
  assert.equal(replayed.status(), 400, 'a replayed second-step form is refused');

  // 4. The JSON API in the same origin: a usernameless sign-in; its answer replayed from here.
  await page.goto(`${issuer}/login?request=none`);
  const started = await postJson('/t/default/auth/passkey/options', {});
  assert.equal(started.status, 200);
  const assertion = await ceremony(page, 'get', started.body.options);
  const signedIn = await postJson('/t/default/auth/passkey/verify', { passkey_token: started.body.passkey_token, credential: assertion });
  assert.equal(signedIn.status, 200, JSON.stringify(signedIn.body));
  const amr = claims(signedIn.body.access_token).amr;
  assert.deepEqual(amr, ['hwk', 'user', 'mfa']);
  const again = await postJson('/t/default/auth/passkey/verify', { passkey_token: started.body.passkey_token, credential: assertion });
  assert.equal(again.status, 401);
  assert.equal(again.body.code, 'invalid_passkey_token', 'a spent ceremony cannot be replayed');
  const fresh = await postJson('/t/default/auth/passkey/options', {});
  const reused = await postJson('/t/default/auth/passkey/verify', { passkey_token: fresh.body.passkey_token, credential: assertion });
  assert.equal(reused.status, 401);
  assert.equal(reused.body.code, 'passkey_rejected', 'an old assertion does not answer a new challenge');

  // 5. Several passkeys through the account API: a second authenticator (a security key) is
  //    registered, the first renamed and deleted (that authenticator is gone).
  const at = signedIn.body.access_token;
  const second = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'usb', hasResidentKey: true, hasUserVerification: true,
      isUserVerified: true, automaticPresenceSimulation: true },
  });
  await cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId });
  const add = await postJson('/t/default/me/passkeys/register', {}, at);
  assert.equal(add.status, 200, JSON.stringify(add.body));
  assert.equal(add.body.options.publicKey.excludeCredentials.length, 1, 'the first passkey is excluded');
  const added = await postJson('/t/default/me/passkeys/register/finish',
    { passkey_token: add.body.passkey_token, credential: await ceremony(page, 'create', add.body.options), name: 'Security key' }, at);
  assert.equal(added.status, 201, JSON.stringify(added.body));
  const mine = await call('GET', '/t/default/me/passkeys', at);
  assert.deepEqual(mine.body.map((p) => p.name), ['Passkey', 'Security key']);
  const renamed = await call('PATCH', `/t/default/me/passkeys/${mine.body[0].id}`, at, { name: 'Laptop' });
  assert.equal(renamed.status, 200);
  assert.equal(renamed.body.name, 'Laptop');
  const gone = await call('DELETE', `/t/default/me/passkeys/${mine.body[0].id}`, at);
  assert.equal(gone.status, 204, JSON.stringify(gone.body));
  assert.deepEqual((await call('GET', '/t/default/me/passkeys', at)).body.map((p) => p.name), ['Security key']);

  //    The JSON login's second step answered by the security key.
  const login = await postJson('/t/default/auth/login', { username: env('USERNAME'), password: env('PASSWORD') });
  assert.equal(login.status, 403);
  assert.deepEqual(login.body.methods, ['passkey']);
  const step = await postJson('/t/default/auth/mfa/passkey/options', { mfa_token: login.body.mfa_token });
  assert.equal(step.status, 200, JSON.stringify(step.body));
  const stepped = await postJson('/t/default/auth/mfa/passkey/verify', {
    mfa_token: login.body.mfa_token, passkey_token: step.body.passkey_token, credential: await ceremony(page, 'get', step.body.options),
  });
  assert.equal(stepped.status, 200, JSON.stringify(stepped.body));
  assert.deepEqual(claims(stepped.body.access_token).amr, ['pwd', 'hwk', 'user', 'mfa']);
  assert.equal(claims(stepped.body.access_token).acr, 'urn:gatehouse:loa:2fa');

  //    With the last passkey gone, the password is the last way in and stays.
  const key = (await call('GET', '/t/default/me/passkeys', at)).body[0];
  assert.equal((await call('DELETE', `/t/default/me/passkeys/${key.id}`, at)).status, 204);
  const noPasskey = await call('DELETE', '/t/default/me/password', at);
  assert.equal(noPasskey.status, 409, 'the password is the last way in now');
  assert.equal(noPasskey.body.code, 'last_sign_in_method');
  await cdp.send('WebAuthn.clearCredentials', { authenticatorId: second.authenticatorId });

  // 6. A passkey-only account: created with a passkey, no password at all.
  const reg = await postJson('/t/default/auth/passkey/register', { username: 'solo' });
  assert.equal(reg.status, 200, JSON.stringify(reg.body));
  const attestation = await ceremony(page, 'create', reg.body.options);
  const made = await postJson('/t/default/auth/passkey/register/finish', { passkey_token: reg.body.passkey_token, credential: attestation, name: 'Phone' });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  const soloPasskeys = await call('GET', '/t/default/me/passkeys', made.body.access_token);
  const last = await call('DELETE', `/t/default/me/passkeys/${soloPasskeys.body[0].id}`, made.body.access_token);
  assert.equal(last.status, 409);
  assert.equal(last.body.code, 'last_sign_in_method');
  received = undefined;
  await page.goto(authorizeUrl({ prompt: 'login' }));
  await page.getByLabel('Username').fill('solo');
  await page.getByLabel('Password').fill(env('PASSWORD'));
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByRole('alert').waitFor();
  assert.match(await page.getByRole('alert').innerText(), /Invalid username or password/);
  await accessible(page, 'passkey-only-password-refused');
  await backAtApp(page.getByRole('button', { name: 'Sign in with a passkey' }).click());
  assert.ok(received.searchParams.get('code'), 'the passkey-only account signs in with its passkey');

  //    A typed username limits the passkey sign-in to that account's passkeys.
  received = undefined;
  let typed;
  page.on('request', (r) => { if (r.url().endsWith('/login/passkey/options')) typed = r.postData(); });
  await page.goto(authorizeUrl({ prompt: 'login' }));
  await page.getByLabel('Username').fill('solo');
  await backAtApp(page.getByRole('button', { name: 'Sign in with a passkey' }).click());
  assert.match(typed, /username=solo/);
  assert.ok(received.searchParams.get('code'), 'signed in with a passkey after a username');

  // 7. Another tenant on the same host: the browser offers the same passkey (one RP ID), but it
  //    names no user of that tenant.
  await page.goto(`${issuer}/login?request=none`);
  const elsewhere = await postJson('/t/other/auth/passkey/options', {});
  assert.equal(elsewhere.status, 200);
  const foreign = await postJson('/t/other/auth/passkey/verify',
    { passkey_token: elsewhere.body.passkey_token, credential: await ceremony(page, 'get', elsewhere.body.options) });
  assert.equal(foreign.status, 401);
  assert.equal(foreign.body.code, 'passkey_rejected');
  assert.deepEqual(violations, [], 'nothing was blocked by the CSP');
  console.log('browser passkeys: ok');
} finally {
  await browser.close();
  server.close();
}
