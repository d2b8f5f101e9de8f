// A real browser (Debian's Chromium, driven by playwright-core) through the hosted second step:
// a tenant that requires a second factor makes a new user enrol an authenticator app at
// sign-in (QR code, key, first code from pyotp), shows the recovery codes once, and on the next
// sign-in asks for a code, where a recovery code works. Every page is checked with axe-core
// (WCAG 2 A/AA) and photographed into SCREENSHOT_DIR. Run by tests/api/interop.rs with ISSUER,
// CLIENT_ID, CALLBACK_PORT, USERNAME, PASSWORD, TENANT_NAME and SCREENSHOT_DIR.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import axe from 'axe-core';
import { chromium } from 'playwright-core';

const env = (k) => { const v = process.env[k]; if (!v) throw new Error(`${k} is not set`); return v; };
const issuer = env('ISSUER');
const redirectUri = `http://127.0.0.1:${env('CALLBACK_PORT')}/callback`;
const shots = env('SCREENSHOT_DIR');

let received;
const server = http.createServer((req, res) => {
  if (req.url.startsWith('/callback')) received = new URL(req.url, redirectUri);
  res.end('<!doctype html><title>callback</title><p>signed in</p>');
});
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

// The code under test never computes codes here: pyotp does.
const totp = (secret) => execFileSync('python3', ['-c', 'import pyotp, sys; print(pyotp.TOTP(sys.argv[1]).now())', secret]).toString().trim();

// axe-core runs through the DevTools protocol, which the page's CSP (no scripts) does not govern.
async function accessible(page, name) {
  await page.evaluate(axe.source);
  const result = await page.evaluate(() => window.axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'best-practice'] }));
  const found = result.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  assert.deepEqual(found, [], `${name}: axe-core violations`);
  await page.screenshot({ path: path.join(shots, `second-factor-${name}.png`), fullPage: true });
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
  const signIn = async (extra) => {
    await page.goto(authorizeUrl(extra));
    await page.getByLabel('Username').fill(env('USERNAME'));
    await page.getByLabel('Password').fill(env('PASSWORD'));
    await page.getByRole('button', { name: 'Sign in' }).click();
  };

  // Enrolment at sign-in.
  await signIn({});
  await page.getByRole('heading', { name: 'Set up two-step verification' }).waitFor();
  assert.equal(await page.title(), `Set up two-step verification · ${env('TENANT_NAME')}`);
  const qr = page.getByRole('img', { name: 'QR code that adds this account to an authenticator app' });
  assert.ok(await qr.evaluate((img) => img.complete && img.naturalWidth > 0), 'the QR code is drawn');
  await accessible(page, 'enrol');
  const secret = (await page.locator('code.secret').innerText()).replaceAll(' ', '');
  await page.getByLabel('Code from the app').fill('000000');
  await page.getByRole('button', { name: 'Turn on two-step verification' }).click();
  await page.getByRole('alert').waitFor();
  assert.match(await page.getByRole('alert').innerText(), /did not work/);
  await accessible(page, 'enrol-error');
  await page.getByLabel('Code from the app').fill(totp(secret));
  await page.getByRole('button', { name: 'Turn on two-step verification' }).click();
  await page.getByRole('heading', { name: 'Save your recovery codes' }).waitFor();
  const codes = await page.getByRole('list', { name: 'Recovery codes' }).getByRole('listitem').allInnerTexts();
  assert.equal(codes.length, 10);
  await accessible(page, 'recovery-codes');
  await Promise.all([page.waitForURL((u) => u.toString().startsWith(redirectUri)),
    page.getByRole('button', { name: 'I saved my codes, continue' }).click()]);
  assert.ok(received.searchParams.get('code'), 'back at the app with a code');

  // The next sign-in asks for a code; a recovery code will do.
  received = undefined;
  await signIn({ prompt: 'login' });
  await page.getByRole('heading', { name: 'Two-step verification' }).waitFor();
  await accessible(page, 'code');
  const code = page.getByLabel('Verification code');
  await code.fill('wrong-code');
  await page.getByRole('button', { name: 'Verify' }).click();
  await page.getByRole('alert').waitFor();
  await accessible(page, 'code-error');
  await page.getByLabel('Verification code').fill(codes[0]);
  await Promise.all([page.waitForURL((u) => u.toString().startsWith(redirectUri)),
    page.getByRole('button', { name: 'Verify' }).click()]);
  assert.ok(received.searchParams.get('code'));
  assert.deepEqual(violations, [], 'nothing was blocked by the CSP');
  console.log('browser second factor: ok');
} finally {
  await browser.close();
  server.close();
}
