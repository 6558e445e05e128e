// Headless-Chromium check of larch's Swagger UI page at /docs, with the network cut off.
// Run by scripts/check_docs.sh, which builds and starts the server and installs playwright-core.
//
// Usage: node check_docs.mjs BASE_URL SCREENSHOT_DIR
// Env:   CHROMIUM (default /usr/bin/chromium), CHECK_TIMEOUT_MS (default 30000),
//        DOCS_CHECK_HOSTNAME (default larch.test; empty to skip): a name the browser resolves to
//        127.0.0.1, to load the page once more as a deployment under a real hostname would see
//        it (Swagger UI skips some behaviour, like its online validator badge, on loopback URLs).
import { createRequire } from 'node:module';
import path from 'node:path';
import fs from 'node:fs';

const require = createRequire(import.meta.url);
const modulesDir = process.env.DOCS_CHECK_NODE_MODULES;
const { chromium } = require(modulesDir ? path.join(modulesDir, 'playwright-core') : 'playwright-core');

const [baseUrl, shotDir] = process.argv.slice(2);
if (!baseUrl || !shotDir) {
  console.error('usage: node check_docs.mjs BASE_URL SCREENSHOT_DIR');
  process.exit(2);
}
const TIMEOUT = Number(process.env.CHECK_TIMEOUT_MS || 30000);
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const ROUTES = ['/healthz', '/auth/login', '/users/{id}', '/products'];
const ALLOWED_HOST = '127.0.0.1';
const ALIAS_HOST = process.env.DOCS_CHECK_HOSTNAME ?? 'larch.test';
const allowedHosts = new Set([ALLOWED_HOST, ...(ALIAS_HOST ? [ALIAS_HOST] : [])]);

const failures = [];
const consoleErrors = [];
const foreignRequests = [];
const failedRequests = [];
const step = (msg) => console.log(`[check_docs] ${msg}`);

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
const shotLoaded = path.resolve(shotDir, 'docs-loaded.png');
const shotExecuted = path.resolve(shotDir, 'docs-healthz-executed.png');
const shotResponse = path.resolve(shotDir, 'docs-healthz-response.png');
const shotFailure = path.resolve(shotDir, 'docs-failure.png');

const browser = await chromium.launch({
  executablePath,
  headless: true,
  timeout: TIMEOUT,
  args: [
    // Cut the browser off from everything but 127.0.0.1: no name resolves, and anything
    // that still tries goes to a dead proxy.
    // (The alias, if any, is mapped to 127.0.0.1 itself.)
    `--host-resolver-rules=${ALIAS_HOST ? `MAP ${ALIAS_HOST} 127.0.0.1, ` : ''}MAP * ~NOTFOUND, EXCLUDE 127.0.0.1`,
    '--proxy-server=127.0.0.1:9',
    `--proxy-bypass-list=127.0.0.1${ALIAS_HOST ? `;${ALIAS_HOST}` : ''}`,
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
let exitCode = 0;
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  context.setDefaultTimeout(TIMEOUT);
  // Belt and braces: abort (and record) any request whose host is not 127.0.0.1.
  await context.route('**/*', (route) => {
    const url = route.request().url();
    const host = hostOf(url);
    if (host !== null && !allowedHosts.has(host)) {
      foreignRequests.push(url);
      return route.abort('blockedbyclient');
    }
    return route.continue();
  });
  context.on('request', (req) => {
    const host = hostOf(req.url());
    if (host !== null && !allowedHosts.has(host) && !foreignRequests.includes(req.url())) {
      foreignRequests.push(req.url());
    }
  });
  context.on('requestfailed', (req) => {
    failedRequests.push(`${req.method()} ${req.url()}: ${req.failure()?.errorText}`);
  });

  page = await context.newPage();
  const watchConsole = (pg, label) => {
    pg.on('console', (msg) => {
      if (msg.type() === 'error') {
        const loc = msg.location();
        consoleErrors.push(`[${label}] ${msg.text()}${loc?.url ? ` (${loc.url}:${loc.lineNumber})` : ''}`);
      }
    });
    pg.on('pageerror', (err) => consoleErrors.push(`[${label}] uncaught: ${err.message}`));
  };
  watchConsole(page, baseUrl);

  // 1. Load the page.
  step(`opening ${baseUrl}/docs`);
  const resp = await page.goto(`${baseUrl}/docs`, { waitUntil: 'load', timeout: TIMEOUT });
  if (!resp || resp.status() !== 200) {
    throw new Error(`GET /docs answered ${resp ? resp.status() : 'nothing'}`);
  }

  // 2. Swagger UI rendered and lists the routes.
  await page.locator('#swagger-ui .swagger-ui').first().waitFor({ state: 'visible' }).catch(() => {
    throw new Error('Swagger UI did not render into #swagger-ui (is swagger-ui-bundle.js loaded?)');
  });
  await page.locator('.swagger-ui .info .title').first().waitFor({ state: 'visible' }).catch(() => {
    throw new Error('Swagger UI rendered, but no API title: /openapi.json not loaded or not parsed');
  });
  const title = (await page.locator('.swagger-ui .info .title').first().innerText()).trim();
  step(`Swagger UI rendered, title: ${JSON.stringify(title.split('\n')[0])}`);
  const opblock = (method, route) =>
    page.locator(`.opblock.opblock-${method}`, {
      has: page.locator(`.opblock-summary-path[data-path="${route}"]`),
    }).first();
  for (const route of ROUTES) {
    const block = page.locator('.opblock', {
      has: page.locator(`.opblock-summary-path[data-path="${route}"]`),
    }).first();
    await block.waitFor({ state: 'visible' }).catch(() => {
      throw new Error(`no visible operation block for ${route}`);
    });
  }
  const count = await page.locator('.opblock').count();
  step(`operation blocks visible for ${ROUTES.join(', ')} (${count} operations in all)`);
  // Let late assets (fonts, images) settle before the screenshot.
  await page.waitForLoadState('networkidle', { timeout: TIMEOUT }).catch(() => {});
  await page.screenshot({ path: shotLoaded, fullPage: true });
  step(`screenshot: ${shotLoaded}`);

  // 3. GET /healthz: expand, Try it out, Execute.
  const healthz = opblock('get', '/healthz');
  await healthz.scrollIntoViewIfNeeded();
  await healthz.locator('.opblock-summary-control, .opblock-summary').first().click();
  const tryOut = healthz.locator('button.try-out__btn');
  await tryOut.waitFor({ state: 'visible' }).catch(() => {
    throw new Error('GET /healthz expanded, but no "Try it out" button');
  });
  await tryOut.click();
  const execute = healthz.locator('button.execute');
  await execute.waitFor({ state: 'visible' }).catch(() => {
    throw new Error('"Try it out" clicked, but no "Execute" button');
  });
  const liveCall = page.waitForResponse(
    (r) => new URL(r.url()).pathname === '/healthz' && r.request().method() === 'GET',
    { timeout: TIMEOUT },
  );
  await execute.click();
  const live = await liveCall.catch(() => null);
  if (!live) throw new Error('"Execute" clicked, but the page sent no GET /healthz');
  step(`page called ${live.url()} -> ${live.status()}`);

  const liveTable = healthz.locator('.live-responses-table');
  await liveTable.waitFor({ state: 'visible' }).catch(() => {
    throw new Error('no live response shown after "Execute"');
  });
  const statusCell = liveTable.locator('tbody .response-col_status').first();
  const bodyCode = liveTable.locator('tbody .response-col_description pre, tbody .response-col_description code').first();
  await bodyCode.waitFor({ state: 'visible' });
  const shownStatus = (await statusCell.innerText()).trim();
  const shownBody = (await bodyCode.innerText()).trim();
  step(`live response shown: status ${shownStatus}, body ${JSON.stringify(shownBody.replace(/\s+/g, ' '))}`);
  if (!/^200\b/.test(shownStatus)) failures.push(`live response status shown is ${JSON.stringify(shownStatus)}, expected 200`);
  if (!/"status"\s*:\s*"ok"/.test(shownBody)) failures.push(`live response body lacks "status": "ok": ${shownBody}`);
  await liveTable.scrollIntoViewIfNeeded();
  await page.screenshot({ path: shotExecuted, fullPage: true });
  step(`screenshot: ${shotExecuted}`);
  await healthz.screenshot({ path: shotResponse });
  step(`screenshot: ${shotResponse}`);

  // The same page under a non-loopback hostname (still served by 127.0.0.1).
  if (ALIAS_HOST) {
    const aliasUrl = new URL(baseUrl);
    aliasUrl.hostname = ALIAS_HOST;
    const aliasBase = aliasUrl.origin;
    const page2 = await context.newPage();
    watchConsole(page2, aliasBase);
    step(`opening ${aliasBase}/docs (${ALIAS_HOST} resolves to 127.0.0.1)`);
    const resp2 = await page2.goto(`${aliasBase}/docs`, { waitUntil: 'load', timeout: TIMEOUT });
    if (!resp2 || resp2.status() !== 200) {
      throw new Error(`GET ${aliasBase}/docs answered ${resp2 ? resp2.status() : 'nothing'}`);
    }
    await page2.locator('.opblock').first().waitFor({ state: 'visible' }).catch(() => {
      throw new Error(`Swagger UI listed no operations at ${aliasBase}/docs`);
    });
    await page2.waitForLoadState('networkidle', { timeout: TIMEOUT }).catch(() => {});
    step(`${aliasBase}/docs rendered ${await page2.locator('.opblock').count()} operations`);
    await page2.close();
  }
} catch (err) {
  failures.push(err.message.split('\n')[0]);
  if (page) {
    await page.screenshot({ path: shotFailure, fullPage: true }).then(
      () => step(`failure screenshot: ${shotFailure}`),
      () => {},
    );
  }
} finally {
  await browser.close().catch(() => {});
}

// 5. Console errors and requests off 127.0.0.1.
for (const e of consoleErrors) failures.push(`browser console error: ${e}`);
for (const u of foreignRequests) failures.push(`request (attempted) to a host other than ${ALLOWED_HOST}: ${u}`);
if (failures.length) {
  for (const f of failedRequests) console.error(`[check_docs] (failed request) ${f}`);
  for (const f of failures) console.error(`[check_docs] FAIL: ${f}`);
  exitCode = 1;
} else {
  step('PASS: /docs renders offline, lists the routes, and "Try it out" on GET /healthz shows 200 {"status": "ok"}');
}
process.exit(exitCode);
