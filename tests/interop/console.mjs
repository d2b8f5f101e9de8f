// A real browser (Debian's Chromium, driven by playwright-core) walks the admin console and the
// account page the way a newcomer would: from the landing page to the console, signed in as the
// bootstrap operator through the system tenant's hosted form; a tenant, a client app and a user
// created with the forms; then a user's account page (profile saved, an authenticator app
// started). Controls are found by role and label, every page is checked with axe-core (WCAG 2
// A/AA and best practices) and photographed at desktop and phone width into SCREENSHOT_DIR. Run by
// tests/api/interop.rs with BASE, OPERATOR_PASSWORD, USERNAME, PASSWORD and SCREENSHOT_DIR.
import assert from 'node:assert/strict';
import path from 'node:path';
import axe from 'axe-core';
import { chromium } from 'playwright-core';

const env = (k) => { const v = process.env[k]; if (!v) throw new Error(`${k} is not set`); return v; };
const base = env('BASE');
const shots = env('SCREENSHOT_DIR');

// axe-core runs through the DevTools protocol, which the page's CSP (no scripts) does not govern.
async function check(page, name) {
  await page.evaluate(axe.source);
  const result = await page.evaluate(() => window.axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'best-practice'] }));
  const found = result.violations.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  assert.deepEqual(found, [], `${name}: axe-core violations`);
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.screenshot({ path: path.join(shots, `console-${name}-desktop.png`), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  const scroll = await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1);
  assert.ok(scroll, `${name}: no sideways scrolling at phone width`);
  await page.screenshot({ path: path.join(shots, `console-${name}-phone.png`), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 900 });
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  const blocked = [];
  page.on('console', (m) => { if (m.text().includes('Content Security Policy')) blocked.push(m.text()); });

  await page.goto(`${base}/`);
  await page.getByRole('link', { name: 'Admin console' }).click();
  assert.equal(await page.title(), 'Admin console · Gatehouse');
  await check(page, 'start');
  await page.getByRole('link', { name: 'Sign in as an operator' }).click();
  await page.getByLabel('Username').fill('admin');
  await page.getByLabel('Password').fill(env('OPERATOR_PASSWORD'));
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Tenants' }).waitFor();
  await check(page, 'tenants');

  await page.getByLabel('Short name').fill('acme');
  await page.getByLabel('Display name').fill('Acme');
  await page.getByRole('button', { name: 'Create tenant' }).click();
  await page.getByRole('heading', { level: 1, name: 'Tenant acme' }).waitFor();
  assert.equal(await page.getByRole('status').textContent(), 'The tenant is created.');
  await page.getByLabel('Two-step verification').selectOption('required_for_admins');
  await page.getByRole('button', { name: 'Save settings' }).click();
  assert.equal(await page.getByRole('status').textContent(), 'The settings are saved.');
  await check(page, 'tenant-settings');

  await page.getByRole('link', { name: 'Client apps' }).click();
  await page.getByLabel('App name').fill('Shop');
  await page.getByLabel('Type').selectOption('confidential');
  await page.getByLabel('Redirect URIs').fill('https://shop.example.com/callback');
  await page.getByRole('button', { name: 'Create client app' }).click();
  await page.getByRole('heading', { level: 1, name: 'Shop' }).waitFor();
  assert.equal(await page.getByRole('list', { name: 'Client secret' }).getByRole('listitem').count(), 1);
  await check(page, 'client-created');
  await page.getByRole('button', { name: 'Rotate secret' }).click();
  assert.match(await page.getByRole('alert').textContent(), /tick the confirmation box/i);
  await page.getByLabel('Yes, the current secret stops working at once').check();
  await page.getByRole('button', { name: 'Rotate secret' }).click();
  assert.equal(await page.getByRole('status').textContent(), 'A new secret is in use.');

  await page.getByRole('link', { name: 'Users' }).click();
  await page.getByLabel('Username').fill('zoe');
  await page.getByLabel('Password').fill('zoe has a long passphrase');
  await page.getByRole('button', { name: 'Create user' }).click();
  await page.getByRole('heading', { level: 1, name: 'zoe' }).waitFor();
  await check(page, 'user');
  await page.getByRole('link', { name: 'Users' }).click();
  await page.getByLabel('Find users').fill('zo');
  await page.getByRole('button', { name: 'Search' }).click();
  assert.equal(await page.getByRole('link', { name: 'zoe' }).count(), 1);
  await check(page, 'users');
  await page.getByRole('link', { name: 'Login providers' }).click();
  await page.getByRole('heading', { level: 1, name: 'Login providers' }).waitFor();
  await check(page, 'providers');
  await page.getByRole('link', { name: 'Audit log' }).click();
  await check(page, 'audit');
  await page.getByRole('link', { name: 'Signing keys' }).click();
  await check(page, 'keys');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { level: 1, name: 'You are signed out' }).waitFor();

  // A user's own page, in a fresh browser.
  const userContext = await browser.newContext();
  const user = await userContext.newPage();
  user.on('console', (m) => { if (m.text().includes('Content Security Policy')) blocked.push(m.text()); });
  await user.goto(`${base}/t/default/account`);
  await user.getByLabel('Username').fill(env('USERNAME'));
  await user.getByLabel('Password').fill(env('PASSWORD'));
  await user.getByRole('button', { name: 'Sign in' }).click();
  await user.getByRole('heading', { level: 1, name: 'Your account' }).waitFor();
  await check(user, 'account');
  await user.getByLabel('Display name').fill('Ada L.');
  await user.getByRole('button', { name: 'Save profile' }).click();
  assert.equal(await user.getByRole('status').textContent(), 'Your profile is saved.');
  assert.equal(await user.getByLabel('Display name').inputValue(), 'Ada L.');
  await user.getByRole('button', { name: 'Set up an authenticator app' }).click();
  await user.getByRole('img', { name: /QR code/ }).waitFor();
  await check(user, 'account-enrol');
  assert.deepEqual(blocked, [], 'nothing was blocked by the CSP');
  console.log('console and account page in a browser: ok');
} finally {
  await browser.close();
}
