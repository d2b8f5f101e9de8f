// A real browser (Debian's Chromium, driven by playwright-core) signs in by a mailed link: the
// hosted sign-in page's "Email me a sign-in link and code", the "Check your inbox" page, the
// link opened in another browser (refused), then in this one (a button, whose post returns to
// the client with a code; the ID token says amr ["email"]). Every page is checked with axe-core
// (WCAG 2 A/AA) and photographed into SCREENSHOT_DIR. Run by tests/api/email_sign_in.rs with
// ISSUER, CLIENT_ID, CALLBACK_PORT, EMAIL, TENANT_NAME, SCREENSHOT_DIR and LINK_FILE (where the
// test writes the link once the mail reached its SMTP server).
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import axe from 'axe-core';
import { chromium } from 'playwright-core';

const env = (k) => { const v = process.env[k]; if (!v) throw new Error(`${k} is not set`); return v; };
const issuer = env('ISSUER');
const tenant = env('TENANT_NAME');
const redirectUri = `http://127.0.0.1:${env('CALLBACK_PORT')}/callback`;
const shots = env('SCREENSHOT_DIR');

let received;
const server = http.createServer((req, res) => {
  if (req.url.startsWith('/callback')) received = new URL(req.url, redirectUri);
  res.end('<!doctype html><title>callback</title><p>signed in</p>');
});
await new Promise((r) => server.listen(Number(env('CALLBACK_PORT')), '127.0.0.1', r));

const verifier = randomBytes(32).toString('base64url');
const auth = new URL(`${issuer}/oauth2/authorize`);
auth.search = new URLSearchParams({
  response_type: 'code', client_id: env('CLIENT_ID'), redirect_uri: redirectUri, scope: 'openid',
  state: 'mail-state', nonce: 'mail-nonce', code_challenge: createHash('sha256').update(verifier).digest('base64url'),
  code_challenge_method: 'S256',
}).toString();

// axe-core runs through the DevTools protocol, which the page's CSP (no scripts) does not govern.
async function accessible(page, name) {
  await page.evaluate(axe.source);
  const result = await page.evaluate(() => window.axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'best-practice'] }));
  const found = result.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  assert.deepEqual(found, [], `${name}: axe-core violations`);
  await page.screenshot({ path: path.join(shots, `email-sign-in-${name}.png`), fullPage: true });
}

async function mailedLink() {
  for (let i = 0; i < 300; i += 1) {
    if (existsSync(env('LINK_FILE'))) return readFileSync(env('LINK_FILE'), 'utf8').trim();
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('no sign-in mail arrived');
}

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
  assert.equal(await page.title(), `Sign in · ${tenant}`);
  await accessible(page, 'sign-in-page');
  await page.getByLabel('Email address').fill(env('EMAIL'));
  await page.getByRole('button', { name: 'Email me a sign-in link and code' }).click();
  await page.waitForURL((u) => u.pathname.endsWith('/login/email'));
  assert.equal(await page.title(), `Check your inbox · ${tenant}`);
  assert.ok(await page.getByLabel('Code from the email').isVisible());
  await accessible(page, 'check-inbox');
  const link = await mailedLink();

  // Another browser (its own cookies): a clear page, no sign-in.
  const other = await browser.newContext();
  const elsewhere = await other.newPage();
  await elsewhere.goto(link);
  assert.equal(await elsewhere.title(), `Open the link where you asked for it · ${tenant}`);
  assert.equal(await elsewhere.getByRole('button').count(), 0);
  await accessible(elsewhere, 'other-browser');
  await other.close();

  // This browser: a button; only its post signs in.
  await page.goto(link);
  assert.equal(await page.title(), `Sign in · ${tenant}`);
  await accessible(page, 'link');
  await Promise.all([
    page.waitForURL((u) => u.toString().startsWith(redirectUri)),
    page.getByRole('button', { name: 'Sign in' }).click(),
  ]);
  assert.deepEqual(violations, [], 'nothing was blocked by the CSP');
  assert.equal(received.searchParams.get('state'), 'mail-state');
  const res = await fetch(`${issuer}/oauth2/token`, {
    method: 'POST',
    body: new URLSearchParams({
      grant_type: 'authorization_code', code: received.searchParams.get('code'), redirect_uri: redirectUri,
      code_verifier: verifier, client_id: env('CLIENT_ID'),
    }),
  });
  assert.equal(res.status, 200);
  const tokens = await res.json();
  const claims = JSON.parse(Buffer.from(tokens.id_token.split('.')[1], 'base64url').toString());
  assert.deepEqual(claims.amr, ['email']);
  console.log('email sign-in in a browser: ok');
} finally {
  await browser.close();
  server.close();
}
