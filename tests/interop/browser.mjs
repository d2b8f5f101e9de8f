// A real browser (Debian's Chromium, driven by playwright-core) opens the authorization URL,
// fills the hosted form and lands on the client's redirect URI with a code, which is then
// redeemed. Run by tests/api/interop.rs with ISSUER, CLIENT_ID, USERNAME, PASSWORD,
// CALLBACK_PORT (a loopback redirect URI registered for the public client), TENANT_NAME and
// BRAND_RGB (the tenant's colour as getComputedStyle reports it).
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { chromium } from 'playwright-core';

const env = (k) => { const v = process.env[k]; if (!v) throw new Error(`${k} is not set`); return v; };
const issuer = env('ISSUER');
const redirectUri = `http://127.0.0.1:${env('CALLBACK_PORT')}/callback`;

// The client app's redirect target.
let received;
const server = http.createServer((req, res) => {
  // Only the redirect counts: the browser also asks this server for /favicon.ico.
  if (req.url.startsWith('/callback')) received = new URL(req.url, redirectUri);
  res.end('<!doctype html><title>callback</title><p>signed in</p>');
});
await new Promise((r) => server.listen(Number(env('CALLBACK_PORT')), '127.0.0.1', r));

const verifier = randomBytes(32).toString('base64url');
const challenge = createHash('sha256').update(verifier).digest('base64url');
const auth = new URL(`${issuer}/oauth2/authorize`);
auth.search = new URLSearchParams({
  response_type: 'code', client_id: env('CLIENT_ID'), redirect_uri: redirectUri, scope: 'openid profile',
  state: 'browser-state', nonce: 'browser-nonce', code_challenge: challenge, code_challenge_method: 'S256',
}).toString();

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage();
  const violations = [];
  page.on('console', (m) => { if (m.text().includes('Content Security Policy')) violations.push(m.text()); });
  await page.goto(auth.toString());
  assert.equal(await page.title(), `Sign in · ${env('TENANT_NAME')}`);
  // The served stylesheet and the tenant's colour (a nonce'd custom property) both apply.
  const button = page.getByRole('button', { name: 'Sign in' });
  assert.equal(await button.evaluate((b) => getComputedStyle(b).backgroundColor), env('BRAND_RGB'));
  assert.equal(await page.locator('main').evaluate((m) => getComputedStyle(m).maxWidth), '384px');
  assert.deepEqual(violations, [], 'nothing was blocked by the CSP');
  await page.getByLabel('Username').fill(env('USERNAME'));
  await page.getByLabel('Password').fill(env('PASSWORD'));
  await Promise.all([page.waitForURL((u) => u.toString().startsWith(redirectUri)), button.click()]);
  assert.ok(received, 'the redirect reached the client');
  assert.equal(received.searchParams.get('state'), 'browser-state');
  assert.equal(received.searchParams.get('iss'), issuer);
  const code = received.searchParams.get('code');
  assert.ok(code);
  const res = await fetch(`${issuer}/oauth2/token`, {
    method: 'POST',
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier, client_id: env('CLIENT_ID') }),
  });
  assert.equal(res.status, 200);
  const tokens = await res.json();
  assert.ok(tokens.id_token && tokens.access_token);
  console.log('browser interop: ok');
} finally {
  await browser.close();
  server.close();
}
