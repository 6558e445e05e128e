// Headless-Chromium check of larch's two email-link pages, /verify-email and /reset-password,
// with the network cut off. Run by scripts/check_pages.sh, which starts the server, makes the
// API calls (register, login, …), finds the links in the server log and runs this once per
// step:
//
//   verify       URL = a verification link: nothing is sent on load; #submit → data-state ok
//   verify-used  URL = the same link again: #submit → data-state error
//   reset        URL = a reset link: mismatching passwords → error and no request; then
//                NEW_PASSWORD twice → data-state ok, form disabled
//   no-token     URL = the server's base URL: /reset-password and /verify-email without a token
//                show an error at load and cannot be submitted
//
// Every page load must answer 200 text/html with Cache-Control no-store and Referrer-Policy
// no-referrer; any browser console error (a CSP violation, say) or request off 127.0.0.1 fails.
//
// Usage: node check_pages.mjs STEP URL SCREENSHOT_DIR
// Env:   CHROMIUM (default /usr/bin/chromium), CHECK_TIMEOUT_MS (default 30000),
//        NEW_PASSWORD (step reset; default second-password-2).
import { createRequire } from 'node:module';
import path from 'node:path';
import fs from 'node:fs';

const require = createRequire(import.meta.url);
const modulesDir = process.env.DOCS_CHECK_NODE_MODULES;
const { chromium } = require(modulesDir ? path.join(modulesDir, 'playwright-core') : 'playwright-core');

const [stepName, startUrl, shotDir] = process.argv.slice(2);
const STEPS = ['verify', 'verify-used', 'reset', 'no-token'];
if (!STEPS.includes(stepName) || !startUrl || !shotDir) {
  console.error(`usage: node check_pages.mjs (${STEPS.join('|')}) URL SCREENSHOT_DIR`);
  process.exit(2);
}
const TIMEOUT = Number(process.env.CHECK_TIMEOUT_MS || 30000);
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const NEW_PASSWORD = process.env.NEW_PASSWORD || 'second-password-2';
const ALLOWED_HOST = '127.0.0.1';

const failures = [];
const consoleErrors = [];
const foreignRequests = [];
const apiCalls = []; // "METHOD /path -> status" of every request the pages made to /auth/…
// Chromium logs every 4xx answer to fetch() as a console error; the ones a step expects
// (the used token's 400, say) are listed here and not counted as failures.
const expectedFailedLoads = [];
const step = (msg) => console.log(`[check_pages] ${stepName}: ${msg}`);

function hostOf(url) {
  try {
    const u = new URL(url);
    if (u.protocol === 'data:' || u.protocol === 'blob:' || u.protocol === 'about:') return null;
    return u.hostname;
  } catch {
    return '?';
  }
}

fs.mkdirSync(shotDir, { recursive: true });
const shot = (name) => path.resolve(shotDir, `${name}.png`);

const browser = await chromium.launch({
  executablePath,
  headless: true,
  timeout: TIMEOUT,
  args: [
    // Cut the browser off from everything but 127.0.0.1: no name resolves, and anything
    // that still tries goes to a dead proxy.
    '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
    '--proxy-server=127.0.0.1:9',
    '--proxy-bypass-list=127.0.0.1',
    '--no-first-run',
    '--no-default-browser-check',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--disable-dev-shm-usage',
    ...(process.getuid && process.getuid() === 0 ? ['--no-sandbox'] : []),
  ],
});

let page;
try {
  const context = await browser.newContext({ viewport: { width: 800, height: 600 } });
  context.setDefaultTimeout(TIMEOUT);
  // Belt and braces: abort (and record) any request whose host is not 127.0.0.1.
  await context.route('**/*', (route) => {
    const url = route.request().url();
    const host = hostOf(url);
    if (host !== null && host !== ALLOWED_HOST) {
      foreignRequests.push(url);
      return route.abort('blockedbyclient');
    }
    return route.continue();
  });
  context.on('request', (req) => {
    const host = hostOf(req.url());
    if (host !== null && host !== ALLOWED_HOST && !foreignRequests.includes(req.url())) {
      foreignRequests.push(req.url());
    }
  });
  context.on('response', (res) => {
    const u = new URL(res.url());
    if (u.pathname.startsWith('/auth/')) apiCalls.push(`${res.request().method()} ${u.pathname} -> ${res.status()}`);
  });

  page = await context.newPage();
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const loc = msg.location();
    const text = `${msg.text()}${loc?.url ? ` (${loc.url}:${loc.lineNumber})` : ''}`;
    const expected = /^Failed to load resource: the server responded with a status of 4\d\d/.test(msg.text())
      && expectedFailedLoads.some((p) => loc?.url && new URL(loc.url).pathname === p);
    if (!expected) consoleErrors.push(text);
  });
  page.on('pageerror', (err) => consoleErrors.push(`uncaught: ${err.message}`));

  // Opens url; asserts the answer and its headers.
  const open = async (url, title) => {
    step(`opening ${url.replace(/token=[^&]+/, 'token=…')}`);
    const resp = await page.goto(url, { waitUntil: 'load', timeout: TIMEOUT });
    if (!resp || resp.status() !== 200) throw new Error(`GET ${url} answered ${resp ? resp.status() : 'nothing'}`);
    const h = resp.headers();
    if (!/^text\/html/i.test(h['content-type'] || '')) failures.push(`${new URL(url).pathname}: Content-Type is ${JSON.stringify(h['content-type'])}, expected text/html`);
    if (!/no-store/i.test(h['cache-control'] || '')) failures.push(`${new URL(url).pathname}: Cache-Control is ${JSON.stringify(h['cache-control'])}, expected no-store`);
    if ((h['referrer-policy'] || '').toLowerCase() !== 'no-referrer') failures.push(`${new URL(url).pathname}: Referrer-Policy is ${JSON.stringify(h['referrer-policy'])}, expected no-referrer`);
    if (!h['content-security-policy']) failures.push(`${new URL(url).pathname}: no Content-Security-Policy header`);
    const shown = await page.title();
    if (shown !== title) failures.push(`${new URL(url).pathname}: title is ${JSON.stringify(shown)}, expected ${JSON.stringify(title)}`);
    await page.waitForLoadState('networkidle', { timeout: TIMEOUT }).catch(() => {});
  };
  const result = page.locator('#result');
  const waitState = async (state, what) => {
    await page.locator(`#result[data-state="${state}"]`).waitFor({ state: 'visible' }).catch(async () => {
      const got = await result.getAttribute('data-state').catch(() => null);
      const text = await result.textContent().catch(() => '');
      throw new Error(`${what}: expected #result[data-state="${state}"], got data-state=${JSON.stringify(got)}: ${JSON.stringify(text)}`);
    });
    const text = (await result.textContent()).trim();
    step(`#result[data-state="${state}"]: ${JSON.stringify(text)}`);
    return text;
  };
  // Pauses path's request long enough to see that #submit is disabled while it is in flight.
  let disabledInFlight = null;
  const watchInFlight = (apiPath) =>
    page.route((u) => u.pathname === apiPath, async (route) => {
      disabledInFlight = await page.locator('#submit').isDisabled();
      return route.fallback();
    });

  if (stepName === 'verify') {
    await watchInFlight('/auth/verify-email');
    await open(startUrl, 'larch — verify your email');
    await page.getByRole('heading', { name: 'Confirm your email address' }).waitFor({ state: 'visible' });
    await page.waitForTimeout(500);
    if (await page.locator('#result[data-state="ok"]').count()) failures.push('the page verified the address on load, without a click');
    if (apiCalls.length) failures.push(`the page called the API on load, without a click: ${apiCalls.join(', ')}`);
    if (await page.locator('#submit').isDisabled()) throw new Error('#submit is disabled on a page with a token');
    await page.screenshot({ path: shot('verify-1-loaded'), fullPage: true });
    await page.locator('#submit').click();
    await waitState('ok', 'verify');
    if (disabledInFlight !== true) failures.push('#submit was not disabled while POST /auth/verify-email was in flight');
    await page.screenshot({ path: shot('verify-2-verified'), fullPage: true });
  } else if (stepName === 'verify-used') {
    expectedFailedLoads.push('/auth/verify-email');
    await open(startUrl, 'larch — verify your email');
    await page.locator('#submit').click();
    const text = await waitState('error', 'verify with a used token');
    if (!/invalid or has expired/.test(text)) failures.push(`used token: message does not say the link is invalid or has expired: ${JSON.stringify(text)}`);
    await page.screenshot({ path: shot('verify-3-used-token'), fullPage: true });
  } else if (stepName === 'reset') {
    await watchInFlight('/auth/password-reset/confirm');
    await open(startUrl, 'larch — reset your password');
    await page.screenshot({ path: shot('reset-1-loaded'), fullPage: true });
    await page.getByLabel('New password', { exact: true }).fill('mismatch-one-1');
    await page.getByLabel('Repeat the new password').fill('mismatch-two-2');
    await page.locator('#submit').click();
    const text = await waitState('error', 'mismatching passwords');
    if (!/match/i.test(text)) failures.push(`mismatch: message does not mention the mismatch: ${JSON.stringify(text)}`);
    await page.waitForTimeout(300);
    if (apiCalls.length) failures.push(`mismatching passwords were sent to the server: ${apiCalls.join(', ')}`);
    await page.screenshot({ path: shot('reset-2-mismatch'), fullPage: true });
    await page.locator('#new_password').fill(NEW_PASSWORD);
    await page.locator('#confirm_password').fill(NEW_PASSWORD);
    await page.locator('#submit').click();
    const ok = await waitState('ok', 'reset');
    if (!/Every session has been signed out/.test(ok)) failures.push(`reset: unexpected success text ${JSON.stringify(ok)}`);
    if (disabledInFlight !== true) failures.push('#submit was not disabled while POST /auth/password-reset/confirm was in flight');
    for (const id of ['#new_password', '#confirm_password', '#submit']) {
      if (!(await page.locator(id).isDisabled())) failures.push(`reset: ${id} still enabled after success`);
    }
    if (apiCalls.length !== 1) failures.push(`expected exactly one API call, saw: ${apiCalls.join(', ')}`);
    await page.screenshot({ path: shot('reset-3-changed'), fullPage: true });
  } else if (stepName === 'no-token') {
    const base = new URL(startUrl).origin;
    for (const [p, title, name] of [
      ['/reset-password', 'larch — reset your password', 'no-token-reset'],
      ['/verify-email', 'larch — verify your email', 'no-token-verify'],
    ]) {
      await open(`${base}${p}`, title);
      await waitState('error', `${p} without a token`);
      if (!(await page.locator('#submit').isDisabled())) failures.push(`${p} without a token: #submit is enabled`);
      await page.screenshot({ path: shot(name), fullPage: true });
    }
    if (apiCalls.length) failures.push(`pages without a token called the API: ${apiCalls.join(', ')}`);
  }
  if (apiCalls.length) step(`API calls made by the page: ${apiCalls.join(', ')}`);
} catch (err) {
  failures.push(err.message.split('\n')[0]);
  if (page) {
    const p = shot(`${stepName}-failure`);
    await page.screenshot({ path: p, fullPage: true }).then(() => step(`failure screenshot: ${p}`), () => {});
  }
} finally {
  await browser.close().catch(() => {});
}

for (const e of consoleErrors) failures.push(`browser console error: ${e}`);
for (const u of foreignRequests) failures.push(`request (attempted) to a host other than ${ALLOWED_HOST}: ${u}`);
if (failures.length) {
  for (const f of failures) console.error(`[check_pages] ${stepName}: FAIL: ${f}`);
  process.exit(1);
}
step('ok');
