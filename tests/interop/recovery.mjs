// The hosted password reset in a real browser (Debian's Chromium, driven by playwright-core):
// sign-in page -> "Forgot password?" -> mail (read from the Maildir aiosmtpd writes) -> the
// link -> new password -> sign in with it. Controls are found by role and label, every page is
// checked with axe-core (WCAG 2 A/AA) and under the CSP, and screenshots go to
// tests/interop/screenshots/ (gitignored). Run by tests/api/interop.rs with ISSUER, CLIENT_ID,
// CALLBACK_PORT, USERNAME, EMAIL, NEW_PASSWORD and MAILDIR.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { chromium } from 'playwright-core';

const env = (k) => { const v = process.env[k]; if (!v) throw new Error(`${k} is not set`); return v; };
const issuer = env('ISSUER');
const redirectUri = `http://127.0.0.1:${env('CALLBACK_PORT')}/callback`;
const shots = path.join(path.dirname(new URL(import.meta.url).pathname), 'screenshots');
mkdirSync(shots, { recursive: true });
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

let received;
const server = http.createServer((req, res) => {
  if (req.url.startsWith('/callback')) received = new URL(req.url, redirectUri);
  res.end('<!doctype html><title>callback</title><p>signed in</p>');
});
await new Promise((r) => server.listen(Number(env('CALLBACK_PORT')), '127.0.0.1', r));

const verifier = randomBytes(32).toString('base64url');
const auth = new URL(`${issuer}/oauth2/authorize`);
auth.search = new URLSearchParams({
  response_type: 'code', client_id: env('CLIENT_ID'), redirect_uri: redirectUri, scope: 'openid profile',
  state: 'reset-state', code_challenge: createHash('sha256').update(verifier).digest('base64url'),
  code_challenge_method: 'S256',
}).toString();

/** The plain-text part of the newest reset mail in the Maildir, decoded. */
async function resetMail() {
  const dir = path.join(env('MAILDIR'), 'new');
  for (let i = 0; i < 100; i += 1) {
    for (const f of readdirSync(dir)) {
      const raw = readFileSync(path.join(dir, f), 'utf8').replace(/\r\n/g, '\n');
      if (!raw.includes('Subject: Reset your')) continue;
      const part = raw.slice(raw.indexOf('Content-Type: text/plain'));
      const [headers, ...rest] = part.split('\n\n');
      const body = rest.join('\n\n').split('\n--')[0];
      if (headers.includes('base64')) return Buffer.from(body.replace(/\s/g, ''), 'base64').toString('utf8');
      return Buffer.from(body.replace(/=\n/g, '').replace(/=([0-9A-F]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString('utf8');
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('no reset mail arrived');
}

async function checkPage(page, name, violations) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(() => globalThis.axe.run(document, { runOnly: ['wcag2a', 'wcag2aa'] }));
  assert.deepEqual(result.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target).join(' ')}`), [], `axe on ${name}`);
  assert.deepEqual(violations, [], `nothing on ${name} was blocked by the CSP`);
  await page.screenshot({ path: path.join(shots, `reset-${name}.png`), fullPage: true });
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
  await checkPage(page, '1-sign-in', violations);
  await page.getByRole('link', { name: 'Forgot password?' }).click();
  assert.match(await page.title(), /^Forgot your password\?/);
  await checkPage(page, '2-forgot', violations);
  await page.getByLabel('Email address').fill(env('EMAIL'));
  await page.getByRole('button', { name: 'Send reset link' }).click();
  await page.getByRole('status').waitFor();
  assert.match(await page.getByRole('status').innerText(), /we have sent it a link and a code/);
  await checkPage(page, '3-check-inbox', violations);

  const text = await resetMail();
  const link = text.split(/\s+/).find((w) => w.startsWith(issuer) && w.includes('/account/reset-password?token='));
  assert.ok(link, `a reset link in:\n${text}`);
  const response = await page.goto(link);
  assert.equal(response.headers()['referrer-policy'], 'no-referrer');
  assert.match(await page.title(), /^Choose a new password/);
  await checkPage(page, '4-new-password', violations);
  await page.getByLabel('New password').fill(env('NEW_PASSWORD'));
  await page.getByRole('button', { name: 'Set new password' }).click();
  await page.getByRole('heading', { name: 'Password changed' }).waitFor();
  await checkPage(page, '5-changed', violations);

  // Back in the app: the new password signs in.
  await page.goto(auth.toString());
  await page.getByLabel('Username').fill(env('USERNAME'));
  await page.getByLabel('Password', { exact: true }).fill(env('NEW_PASSWORD'));
  await Promise.all([
    page.waitForURL((u) => u.toString().startsWith(redirectUri)),
    page.getByRole('button', { name: 'Sign in' }).click(),
  ]);
  assert.equal(received?.searchParams.get('state'), 'reset-state');
  assert.ok(received.searchParams.get('code'));
  console.log('browser password reset: ok');
} finally {
  await browser.close();
  server.close();
}
