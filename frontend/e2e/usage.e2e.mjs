// The Usage page end to end (started by tests/browser/test_usage_e2e.py, which seeded the app with
// four requests of session s-e2e — the last one failed over from p1 to p2 — and quota readings
// p1 = 5,000 available, p2 = 0 available).
//
//   E2E_GATEWAY   http://127.0.0.1:<port>/     E2E_TOKEN   the gateway token
//   E2E_ARTIFACTS folder for screenshots

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { VIEWPORT, elapsed, env, launchBrowser, log, textMatches, until, watchdog } from './lib.mjs';

const GATEWAY = env('E2E_GATEWAY').replace(/\/?$/, '/');
const TOKEN = env('E2E_TOKEN');
const ARTIFACTS = env('E2E_ARTIFACTS');
watchdog(60_000);

const browser = await launchBrowser();
const context = await browser.newContext({ viewport: VIEWPORT, colorScheme: 'light' });
// The browser session already holds the token, as after the first visit.
await context.addInitScript((token) => sessionStorage.setItem('api-router.gateway-token', token), TOKEN);
const page = await context.newPage();
const pageErrors = [];
page.on('pageerror', (e) => pageErrors.push(e.message));

const cell = (row, col) => page.getByTestId(row).locator(`[data-col="${col}"]`);

try {
  log('dashboard: quota columns show the readings; p2 is marked exhausted');
  await page.goto(GATEWAY);
  await textMatches(page.getByTestId('quota-p1'), /5k quota/);
  await textMatches(page.getByTestId('quota-p2'), /0 quota/);
  await page.getByTestId('quota-exhausted-p2').waitFor();
  const fits = await page.evaluate(() => document.scrollingElement.scrollHeight <= innerHeight);
  assert.ok(fits, 'the dashboard still fits 1320x720 with the quota columns');

  log('usage page: totals for the last day');
  await page.getByRole('link', { name: 'Usage' }).click();
  await until('usage is the current page', async () =>
    (await page.getByRole('link', { name: 'Usage' }).getAttribute('aria-current')) === 'page');
  assert.equal(await page.getByRole('button', { name: 'Last day' }).getAttribute('aria-pressed'), 'true');
  const totals = { requests: '4', errors: '0', 'input-tokens': '40', 'output-tokens': '20',
                   'cached-tokens': '12', 'reasoning-tokens': '8', 'total-tokens': '60' };
  for (const [name, value] of Object.entries(totals)) {
    await textMatches(page.getByTestId(`usage-overall-${name}`), new RegExp(`^${value}$`), `${name} = ${value}`);
  }

  log('usage page: per provider, a failover counts against p1 and for p2');
  await textMatches(cell('usage-provider-row-p1', 'requests'), /^4$/);
  await textMatches(cell('usage-provider-row-p1', 'errors'), /^1$/);
  await textMatches(cell('usage-provider-row-p1', 'total_tokens'), /^45$/);
  await textMatches(cell('usage-provider-row-p2', 'requests'), /^1$/);
  await textMatches(cell('usage-provider-row-p2', 'errors'), /^0$/);
  await textMatches(cell('usage-provider-row-p2', 'total_tokens'), /^15$/);

  log('usage page: the charts are drawn');
  await until('token bars', async () =>
    (await page.getByTestId('usage-chart-tokens').locator('svg .recharts-bar-rectangle').count()) > 0);
  await until('request lines', async () =>
    (await page.getByTestId('usage-chart-requests').locator('svg .recharts-line').count()) > 0);
  await until('latency bars', async () =>
    (await page.getByTestId('usage-chart-latency').locator('svg .recharts-bar-rectangle').count()) > 0);

  log('usage page: other windows hold the same four requests');
  for (const name of ['Last hour', 'Last 30 days']) {
    await page.getByRole('button', { name }).click();
    await textMatches(page.getByTestId('usage-overall-requests'), /^4$/, `${name}: 4 requests`);
  }

  log('session timeline: the fourth turn failed over from p1 to p2');
  await page.getByTestId('session-row-s-e2e').click();
  const fourth = page.getByTestId('timeline-entry-4');
  await fourth.waitFor();
  assert.equal(await fourth.getAttribute('data-provider'), 'p2');
  assert.equal(await fourth.getAttribute('data-failover'), 'true');
  assert.equal(await fourth.getAttribute('data-switched'), 'true');
  await textMatches(fourth, /switched from p1/);
  await textMatches(fourth, /bad gateway/);
  assert.equal(await page.getByTestId('timeline-entry-1').getAttribute('data-provider'), 'p1');

  await page.screenshot({ path: join(ARTIFACTS, 'usage.png'), fullPage: true });
  assert.deepEqual(pageErrors, [], 'uncaught errors in the page');
  log(`PASS in ${elapsed()} s`);
} catch (e) {
  log(`FAIL: ${e instanceof Error ? e.stack : e}`);
  await page.screenshot({ path: join(ARTIFACTS, 'usage-failure.png'), fullPage: true }).catch(() => {});
  process.exitCode = 1;
} finally {
  await browser.close().catch(() => {});
}
