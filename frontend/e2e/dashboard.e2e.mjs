// End-to-end test of the control UI in a real browser (Debian's chromium via playwright-core).
//
// Started by tests/browser/test_dashboard_e2e.py, which runs the real headless app with an empty
// provider list, four fake upstreams and a CODEX_HOME folder, and passes everything in env vars:
//
//   E2E_GATEWAY        http://127.0.0.1:<port>/          the app (UI at /, API at /api, gateway at /v1)
//   E2E_TOKEN          the gateway token from secrets.json
//   E2E_FAKE_URLS      {"p1": "http://127.0.0.1:<port>/v1", …}  fake upstream base URLs
//   E2E_FAKE_CONTROL   POST <url>/<name>/fail | /ok       makes a fake upstream answer 503 / 200
//   E2E_KEYS           {"p1": "sk-…", "p2": "sk-…"}      keys to type into the UI
//   E2E_CODEX_HOME     the CODEX_HOME the app writes to
//   E2E_ARTIFACTS      folder for screenshots (and failure.png)
//   API_ROUTER_CHROMIUM  the browser (default /usr/bin/chromium)
//
// Every action goes through the UI. `fetch` is used only as Codex would use the gateway
// (POST /v1/responses), to flip a fake upstream, and to read back the saved provider order.
// Every wait is bounded (STEP_MS); nothing sleeps for a fixed time.

import assert from 'node:assert/strict';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { STEP_MS, VIEWPORT, elapsed, env, launchBrowser, log, textMatches, until, watchdog } from './lib.mjs';

const TOTAL_MS = 90_000;
const GATEWAY = env('E2E_GATEWAY').replace(/\/?$/, '/');
const FIRST_TOKEN = env('E2E_TOKEN');
const FAKES = JSON.parse(env('E2E_FAKE_URLS'));
const FAKE_CONTROL = env('E2E_FAKE_CONTROL');
const KEYS = JSON.parse(env('E2E_KEYS'));
const CODEX_HOME = env('E2E_CODEX_HOME');
const ARTIFACTS = env('E2E_ARTIFACTS');
const NAMES = { p1: 'Relay One', p2: 'Relay Two', p3: 'Relay Three', p4: 'Relay Four' };

watchdog(TOTAL_MS);

// ------------------------------------------------------------------ helpers

async function responses(token) {
  const r = await fetch(`${GATEWAY}v1/responses`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({
      model: 'gpt-test',
      stream: false,
      input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'say hi' }] }],
    }),
    signal: AbortSignal.timeout(STEP_MS),
  });
  const body = await r.json().catch(() => null);
  return { status: r.status, body };
}

/** Who served a response: the fakes put their name in the response id (resp_<name>_<n>). */
const esc = (s) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

const servedBy = (body) => /^resp_(p\d)_/.exec(body?.id ?? '')?.[1] ?? null;

async function setFake(name, mode) {
  const r = await fetch(`${FAKE_CONTROL}/${name}/${mode}`, { method: 'POST', signal: AbortSignal.timeout(STEP_MS) });
  assert.equal(r.status, 200, `fake control ${name}/${mode}`);
}

async function savedOrder(token) {
  const r = await fetch(`${GATEWAY}api/get_config`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: '{}',
    signal: AbortSignal.timeout(STEP_MS),
  });
  return (await r.json()).provider_order;
}

// ------------------------------------------------------------------ the run

mkdirSync(ARTIFACTS, { recursive: true });
rmSync(join(ARTIFACTS, 'failure.png'), { force: true });
const browser = await launchBrowser();
// A new context is a fresh, throw-away profile: no saved token, no cache.
const context = await browser.newContext({ viewport: VIEWPORT, colorScheme: 'light' });
const page = await context.newPage();
page.setDefaultTimeout(STEP_MS);
const pageErrors = [];
page.on('pageerror', (e) => pageErrors.push(e.message));
const apiFailures = [];
page.on('response', (r) => {
  if (r.url().includes('/api/') && r.status() >= 400) apiFailures.push(`${r.status()} ${new URL(r.url()).pathname}`);
});

let token = FIRST_TOKEN;
let stepNo = 0;

async function step(name, fn) {
  stepNo += 1;
  const started = Date.now();
  log(`step ${stepNo}: ${name}`);
  await fn();
  const errors = await page.getByTestId('toast-error').allInnerTexts();
  assert.deepEqual(errors, [], `error toast after "${name}"`);
  assert.deepEqual(pageErrors, [], 'uncaught errors in the page');
  log(`  ok (${Date.now() - started} ms)`);
}

const row = (id) => page.getByTestId(`provider-row-${id}`);
const rowOrder = () =>
  page.locator('[data-testid^="provider-row-"]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-provider-id')));
const eventsList = page.getByRole('list', { name: 'Events list' });
const eventWith = (text) => eventsList.getByRole('listitem').filter({ hasText: text });

async function expectOrder(want) {
  await until(`rows in order ${want}`, async () => JSON.stringify(await rowOrder()) === JSON.stringify(want));
  await until(`saved order ${want}`, async () => JSON.stringify(await savedOrder(token)) === JSON.stringify(want));
}

async function addProvider(id, { key } = {}) {
  await page.getByRole('region', { name: 'Providers' }).getByRole('button', { name: 'Add provider' }).click();
  const dialog = page.getByRole('dialog', { name: 'Add provider' });
  await dialog.getByLabel('Provider id').fill(id);
  await dialog.getByLabel('Display name').fill(NAMES[id]);
  await dialog.getByLabel('Base URL').fill(FAKES[id]);
  const keyField = dialog.getByLabel('API key (optional)');
  assert.equal(await keyField.getAttribute('type'), 'password', 'the key field is a password field');
  if (key) await keyField.fill(key);
  await dialog.getByRole('button', { name: 'Add provider' }).click();
  await dialog.waitFor({ state: 'hidden' });
  await row(id).waitFor();
  await textMatches(row(id), new RegExp(`${NAMES[id]}[\\s\\S]*${esc(FAKES[id])}`), `row ${id}`);
}

async function keyNeverShown(id, key) {
  const preview = await textMatches(page.getByTestId(`key-preview-${id}`), /…|•/, `masked key preview of ${id}`);
  assert.ok(!preview.includes(key) && preview.length < key.length, `preview of ${id} is masked: ${preview}`);
  const html = await page.content();
  assert.ok(!html.includes(key) && !html.includes(key.slice(4, -4)), `the key of ${id} appears in the page`);
}

try {
  await step('token prompt refuses a wrong token', async () => {
    await page.goto(GATEWAY, { waitUntil: 'domcontentloaded' });
    const field = page.getByLabel('Gateway token', { exact: true });
    assert.equal(await field.getAttribute('type'), 'password');
    await field.fill('ao_' + 'f'.repeat(32));
    await page.getByRole('button', { name: 'Connect' }).click();
    await textMatches(page.getByRole('alert'), /That token was refused by the gateway/);
  });

  await step('the right token opens the dashboard', async () => {
    await page.getByLabel('Gateway token', { exact: true }).fill(FIRST_TOKEN);
    await page.getByRole('button', { name: 'Connect' }).click();
    await textMatches(page.getByTestId('connection'), /^Live$/);
    await textMatches(page.getByRole('region', { name: 'Providers' }), /No providers yet/);
    await textMatches(page.getByTestId('gateway-url'), new RegExp(`^${esc(GATEWAY)}v1$`));
    assert.equal(apiFailures.splice(0).join(), '401 /api/get_status', 'only the wrong token was refused');
  });

  await step('add providers p1 and p2 (p2 with a key in the add dialog)', async () => {
    await addProvider('p1');
    await addProvider('p2', { key: KEYS.p2 });
    await expectOrder(['p1', 'p2']);
    await textMatches(row('p1'), /no key/);
    await keyNeverShown('p2', KEYS.p2);
    await textMatches(page.getByTestId('status-preferred'), /^p1$/);
  });

  await step('set a key for p1; only a masked preview is shown', async () => {
    await page.getByRole('button', { name: 'Set key for p1' }).click();
    const dialog = page.getByRole('dialog', { name: 'API key for p1' });
    const field = dialog.getByLabel('New API key');
    assert.equal(await field.getAttribute('type'), 'password');
    await field.fill(KEYS.p1);
    await dialog.getByRole('button', { name: 'Save key' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await page.getByRole('button', { name: 'Change key for p1' }).waitFor();
    await keyNeverShown('p1', KEYS.p1);
  });

  await step('reorder with the keyboard (Reorder handle + ArrowUp / ArrowDown)', async () => {
    await page.getByRole('button', { name: 'Reorder p2' }).focus();
    await page.keyboard.press('ArrowUp');
    await expectOrder(['p2', 'p1']);
    await textMatches(page.getByTestId('status-preferred'), /^p2$/); // the first provider is preferred
    // Focus stays on the moved provider's handle, so the next key moves it back.
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('aria-label')), 'Reorder p2');
    await page.keyboard.press('ArrowDown');
    await expectOrder(['p1', 'p2']);
  });

  await step('reorder by drag and drop', async () => {
    const target = row('p1');
    const box = await target.boundingBox();
    await page.getByRole('button', { name: 'Reorder p2' }).dragTo(target, { targetPosition: { x: box.width / 2, y: 3 } });
    await expectOrder(['p2', 'p1']);
    await textMatches(page.getByTestId('status-preferred'), /^p2$/);
  });

  await step('lock routing to p1; a request goes to p1', async () => {
    await page.getByLabel('Lock routing to').selectOption('p1');
    await textMatches(page.getByTestId('status-lock'), /^Locked to p1$/);
    await textMatches(row('p1'), /locked/);
    await eventWith('Routing locked to Relay One by user').waitFor();
    const r = await responses(token);
    assert.equal(r.status, 200);
    assert.equal(servedBy(r.body), 'p1', 'the lock wins over the preferred provider');
    await textMatches(page.getByTestId('status-active'), /^p1 · locked by user$/);
  });

  await step('back to automatic; a request goes to the preferred p2 and shows as active with an event', async () => {
    await page.getByRole('button', { name: 'Back to automatic' }).click();
    await textMatches(page.getByTestId('status-lock'), /^Automatic$/);
    assert.equal(await page.getByLabel('Lock routing to').inputValue(), '');
    await eventWith('Routing lock released').waitFor();
    const r = await responses(token);
    assert.equal(r.status, 200);
    assert.equal(servedBy(r.body), 'p2');
    await textMatches(page.getByTestId('status-active'), /^p2 · preferred provider$/);
    await textMatches(row('p2'), /active/);
    await eventWith('Back to preferred provider Relay Two from Relay One').waitFor();
    await textMatches(row('p2'), /Healthy/);
  });

  await step('routing card: failure threshold 1, cooldown 60 s', async () => {
    await page.getByLabel('Failure threshold').fill('1');
    await page.getByLabel('Cooldown (s)').fill('60');
    await page.getByRole('button', { name: 'Save routing' }).click();
    await page.getByRole('status').filter({ hasText: 'Routing settings saved' }).waitFor();
    await until('Save routing to settle', async () => page.getByRole('button', { name: 'Save routing' }).isDisabled());
  });

  await step('p2 fails: the request fails over to p1, p2 shows Cooldown with time left', async () => {
    await setFake('p2', 'fail');
    const r = await responses(token);
    assert.equal(r.status, 200, 'the client never sees the upstream 503');
    assert.equal(servedBy(r.body), 'p1');
    await textMatches(row('p2'), /Cooldown/);
    const countdown = page.getByLabel(/^Cooldown of p2: \d+:\d\d left$/);
    await countdown.waitFor();
    log(`  ${await countdown.getAttribute('aria-label')}`);
    await page.getByRole('button', { name: /^Last error of p2: HTTP 503/ }).waitFor();
    await textMatches(page.getByTestId('status-active'), /^p1 · failover: /);
    await eventWith('Failover from Relay Two to Relay One').waitFor();
    await eventWith('Relay Two cooling down for 60 s').waitFor();
    assert.equal(await eventWith('Failover from Relay Two to Relay One').getAttribute('data-level'), 'warning');
  });

  await step('rotate the gateway token: the old one is refused, the UI keeps working', async () => {
    const p1Requests = row('p1').locator('td.num').nth(1);
    await textMatches(p1Requests, /^2 \/ 0$/, 'p1 ok/err = 2 / 0');
    await page.getByRole('button', { name: 'Show gateway token' }).click();
    await textMatches(page.getByTestId('gateway-token'), new RegExp(`^${FIRST_TOKEN}$`));
    await page.getByRole('button', { name: 'Rotate gateway token' }).click();
    const confirm = page.getByRole('alertdialog', { name: 'Rotate the gateway token?' });
    await confirm.getByRole('button', { name: 'Rotate token' }).click();
    await confirm.waitFor({ state: 'hidden' });
    const shown = await textMatches(page.getByTestId('gateway-token'), /^ao_\w+$/);
    assert.notEqual(shown, FIRST_TOKEN, 'a new token is shown');
    token = shown;
    const old = await responses(FIRST_TOKEN);
    assert.equal(old.status, 401, 'the old token is refused at /v1/responses');
    const fresh = await responses(token);
    assert.equal(fresh.status, 200);
    assert.equal(servedBy(fresh.body), 'p1', 'p2 is still cooling down');
    // The UI polls with the new token: the request just sent shows up in p1's counters.
    await textMatches(p1Requests, /^3 \/ 0$/, 'p1 ok/err = 3 / 0');
    await textMatches(page.getByTestId('connection'), /^Live$/);
    assert.equal(await page.getByLabel('Gateway token', { exact: true }).count(), 0, 'no token prompt');
    // The browser session remembers the new token: a reload goes straight to the dashboard.
    await page.reload({ waitUntil: 'domcontentloaded' });
    await textMatches(page.getByTestId('connection'), /^Live$/);
    await page.getByRole('button', { name: 'Show gateway token' }).click();
    await textMatches(page.getByTestId('gateway-token'), new RegExp(`^${token}$`));
    await page.getByRole('button', { name: 'Hide gateway token' }).click();
    const masked = await textMatches(page.getByTestId('gateway-token'), /^ao_•+\w{4}$/, 'masked token');
    assert.ok(!masked.includes(token.slice(3, -4)), 'the token is masked again');
  });

  await step('Connect Codex writes the Codex config', async () => {
    await page.getByRole('button', { name: 'Connect Codex' }).click();
    const dialog = page.getByRole('dialog', { name: 'Connect Codex' });
    await textMatches(dialog.getByTestId('codex-configured'), /Not configured/);
    await textMatches(dialog, new RegExp(esc(CODEX_HOME)), 'the CODEX_HOME path');
    await textMatches(dialog.getByLabel('config.toml block', { exact: true }), new RegExp(`base_url = "${esc(GATEWAY)}v1"`));
    await textMatches(dialog.getByLabel('auth.json content', { exact: true }), new RegExp(`"OPENAI_API_KEY": "${token}"`));
    await dialog.getByRole('button', { name: 'Write Codex config' }).click();
    await textMatches(dialog.getByTestId('codex-configured'), /Configured for this gateway/);
    assert.ok(await dialog.getByRole('button', { name: 'Restore backup' }).isEnabled(), 'a backup was made');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
  });

  await step('add two more providers (four in all)', async () => {
    await addProvider('p3');
    await addProvider('p4');
    await expectOrder(['p2', 'p1', 'p3', 'p4']);
  });

  await step('screenshots at 1320×720, light and dark, without a page scrollbar', async () => {
    // A calm frame: no notifications, no focus ring, no hover.
    const dismiss = page.getByRole('button', { name: 'Dismiss notification' });
    while ((await dismiss.count()) > 0) await dismiss.first().click();
    await page.mouse.move(VIEWPORT.width - 2, VIEWPORT.height - 2);
    await page.evaluate(() => document.activeElement instanceof HTMLElement && document.activeElement.blur());
    await page.getByLabel(/^Cooldown of p2: \d+:\d\d left$/).waitFor(); // still cooling down in the picture

    for (const scheme of ['light', 'dark']) {
      await page.emulateMedia({ colorScheme: scheme });
      await until(`${scheme} colours`, () =>
        page.evaluate((s) => matchMedia(`(prefers-color-scheme: ${s})`).matches, scheme),
      );
      const m = await page.evaluate(() => {
        const el = document.scrollingElement;
        const table = document.querySelector('.table-scroll');
        return {
          scrollHeight: el.scrollHeight,
          scrollWidth: el.scrollWidth,
          innerHeight,
          innerWidth,
          tableHidden: table ? table.scrollHeight - table.clientHeight : 0,
          background: getComputedStyle(document.body).backgroundColor,
        };
      });
      log(`  ${scheme}: ${JSON.stringify(m)}`);
      assert.ok(m.scrollHeight <= m.innerHeight, `no vertical page scrollbar (${m.scrollHeight} > ${m.innerHeight})`);
      assert.ok(m.scrollWidth <= m.innerWidth, `no horizontal page scrollbar (${m.scrollWidth} > ${m.innerWidth})`);
      assert.ok(m.tableHidden <= 0, `all four providers visible without scrolling the table (${m.tableHidden} px hidden)`);
      assert.equal(m.background === 'rgb(15, 17, 21)', scheme === 'dark', `${scheme} background: ${m.background}`);
      await page.screenshot({ path: join(ARTIFACTS, `dashboard-${scheme}.png`) });
    }
    await page.emulateMedia({ colorScheme: 'light' });
  });

  const unexpected = apiFailures.filter((f) => f !== '401 /api/get_status'); // stale polls around the rotation
  assert.deepEqual(unexpected, [], 'control API calls that failed');
  log(`PASS: ${stepNo} steps in ${elapsed()} s`);
} catch (e) {
  log(`FAIL at step ${stepNo}: ${e instanceof Error ? e.stack : e}`);
  await page.screenshot({ path: join(ARTIFACTS, 'failure.png') }).catch(() => {});
  const text = await page.evaluate(() => document.body.innerText).catch(() => '(no page text)');
  console.log(`--- page text at failure ---\n${text}\n---`);
  process.exitCode = 1;
} finally {
  await browser.close().catch(() => {});
}
