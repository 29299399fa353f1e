// End-to-end test of the control UI in a real browser (Debian's chromium via playwright-core).
//
// Started by tests/browser/test_dashboard_e2e.py once per window width (720, 1000, 1400 px), which
// runs the real headless app with an empty provider list, four fake upstreams and a CODEX_HOME
// folder, and passes everything in env vars:
//
//   E2E_GATEWAY        http://127.0.0.1:<port>/          the app (UI at /, API at /api, gateway at /v1)
//   E2E_TOKEN          the gateway token from secrets.json
//   E2E_FAKE_URLS      {"p1": "http://127.0.0.1:<port>/v1", …}  fake upstream base URLs
//   E2E_FAKE_CONTROL   POST <url>/<name>/fail | /ok       makes a fake upstream answer 503 / 200
//   E2E_KEYS           {"p1": "sk-…", "p2": "sk-…"}      keys to type into the UI
//   E2E_CODEX_HOME     the CODEX_HOME the app writes to
//   E2E_WIDTH          window width in px (height 800)    E2E_SCHEME  light | dark
//   E2E_ARTIFACTS      folder for screenshots (and dashboard-<width>-failure.png)
//   API_ROUTER_CHROMIUM  the browser (default /usr/bin/chromium)
//
// Every action goes through the UI. `fetch` is used only as Codex would use the gateway
// (POST /v1/responses), to flip a fake upstream, and to read back the saved config. After every
// step the page must be no wider than the window. Every wait is bounded; nothing sleeps.

import assert from 'node:assert/strict';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  DEFAULT_VIEWPORT,
  STEP_MS,
  assertNoClippedHeaders,
  assertEnterKeepsFocus,
  assertFitsWidth,
  assertNoHorizontalScroll,
  assertSelectsShowTheirOptions,
  assertReachable,
  assertShiftTabClearsHeader,
  calm,
  elapsed,
  env,
  esc,
  launchBrowser,
  log,
  runViewport,
  screenshots,
  textMatches,
  until,
  watchdog,
} from './lib.mjs';

const TOTAL_MS = 110_000;
const GATEWAY = env('E2E_GATEWAY').replace(/\/?$/, '/');
const FIRST_TOKEN = env('E2E_TOKEN');
const FAKES = JSON.parse(env('E2E_FAKE_URLS'));
const FAKE_CONTROL = env('E2E_FAKE_CONTROL');
const KEYS = JSON.parse(env('E2E_KEYS'));
const CODEX_HOME = env('E2E_CODEX_HOME');
const ARTIFACTS = env('E2E_ARTIFACTS');
const { viewport: VIEWPORT, scheme: SCHEME } = runViewport();
const W = VIEWPORT.width;
// Relay Four's name is as long as real ones get: drop-downs must show it whole.
const NAMES = { p1: 'Relay One', p2: 'Relay Two', p3: 'Relay Three', p4: 'Relay Four (Frankfurt backup)' };

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
const servedBy = (body) => /^resp_(p\d)_/.exec(body?.id ?? '')?.[1] ?? null;

async function setFake(name, mode) {
  const r = await fetch(`${FAKE_CONTROL}/${name}/${mode}`, { method: 'POST', signal: AbortSignal.timeout(STEP_MS) });
  assert.equal(r.status, 200, `fake control ${name}/${mode}`);
}

async function savedConfig(token) {
  const r = await fetch(`${GATEWAY}api/get_config`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: '{}',
    signal: AbortSignal.timeout(STEP_MS),
  });
  return r.json();
}

// ------------------------------------------------------------------ the run

mkdirSync(ARTIFACTS, { recursive: true });
const FAILURE_SHOT = join(ARTIFACTS, `dashboard-${W}-failure.png`);
rmSync(FAILURE_SHOT, { force: true });
const browser = await launchBrowser();
// A new context is a fresh, throw-away profile: no saved token, no cache.
const context = await browser.newContext({ viewport: VIEWPORT, colorScheme: SCHEME });
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

async function step(name, fn, { selectsFit = true } = {}) {
  stepNo += 1;
  const started = Date.now();
  log(`step ${stepNo}: ${name}`);
  await fn();
  const errors = await page.getByTestId('toast-error').allInnerTexts();
  assert.deepEqual(errors, [], `error toast after "${name}"`);
  assert.deepEqual(pageErrors, [], 'uncaught errors in the page');
  await assertNoHorizontalScroll(page, `after "${name}" at ${page.viewportSize().width} px`);
  if (selectsFit) await assertSelectsShowTheirOptions(page, `after "${name}" at ${page.viewportSize().width} px`);
  log(`  ok (${Date.now() - started} ms)`);
}

const row = (id) => page.getByTestId(`provider-row-${id}`);
const rowOrder = () =>
  page.locator('[data-testid^="provider-row-"]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-provider-id')));
const eventsList = page.getByRole('list', { name: 'Events list' });
const eventWith = (text) => eventsList.getByRole('listitem').filter({ hasText: text });
const providers = page.getByRole('region', { name: 'Providers' });

async function expectOrder(want) {
  await until(`rows in order ${want}`, async () => JSON.stringify(await rowOrder()) === JSON.stringify(want));
  await until(`saved order ${want}`, async () => JSON.stringify((await savedConfig(token)).provider_order) === JSON.stringify(want));
}

async function addProvider(id, { key, typedUrl, template } = {}) {
  await providers.getByRole('button', { name: 'Add provider' }).click();
  const dialog = page.getByRole('dialog', { name: 'Add provider' });
  await dialog.getByLabel('Provider id').fill(id);
  await dialog.getByLabel('Display name').fill(NAMES[id]);
  if (template) {
    await dialog.getByLabel('Template').selectOption(template.value);
    assert.equal(await dialog.getByLabel('Base URL').inputValue(), template.url, 'the template fills in its URL shape');
  }
  await dialog.getByLabel('Base URL').fill(typedUrl ?? FAKES[id]);
  const keyField = dialog.getByLabel('API key (optional)');
  assert.equal(await keyField.getAttribute('type'), 'password', 'the key field is a password field');
  if (key) await keyField.fill(key);
  await dialog.getByRole('button', { name: 'Add provider' }).click();
  await dialog.waitFor({ state: 'hidden' });
  await row(id).waitFor();
  await textMatches(page.getByTestId(`provider-name-${id}`), new RegExp(`^${esc(NAMES[id])}$`));
  await textMatches(page.getByTestId(`base-url-${id}`), new RegExp(`^${esc(FAKES[id])}$`), `full base URL of ${id}`);
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

  await step('the right token opens the dashboard; every header action is reachable', async () => {
    await page.getByLabel('Gateway token', { exact: true }).fill(FIRST_TOKEN);
    await page.getByRole('button', { name: 'Connect' }).click();
    await textMatches(page.getByTestId('connection'), /^Live$/);
    await textMatches(providers, /No providers yet/);
    await textMatches(page.getByTestId('gateway-url'), new RegExp(`^${esc(GATEWAY)}v1$`));
    await textMatches(page.getByTestId('status-summary'), /^no provider configured/);
    assert.equal(apiFailures.splice(0).join(), '401 /api/get_status', 'only the wrong token was refused');
    await textMatches(page.getByTestId('codex-button-text'), /^Connect Codex · not connected$/);
    for (const name of ['Connect Codex · not connected', 'Settings']) await assertReachable(page.getByRole('button', { name, exact: true }), name);
    await assertReachable(providers.getByRole('button', { name: 'Add provider' }), 'Add provider');
    await assertReachable(page.getByRole('button', { name: 'Save routing' }), 'Save routing');
  });

  await step('add Relay One (warned about a URL without a path) and Relay Two (HTTP:// in capitals, with a key)', async () => {
    await providers.getByRole('button', { name: 'Add provider' }).click();
    const dialog = page.getByRole('dialog', { name: 'Add provider' });
    await dialog.getByLabel('Base URL').fill(FAKES.p1.replace(/\/v1$/, ''));
    await textMatches(dialog.getByTestId('base-url-no-path'), /most providers expect …\/v1/);
    // The server refuses the gateway's own address: the dialog shows it at the Base URL, with no toast over the form.
    await dialog.getByLabel('Provider id').fill('itself');
    await dialog.getByLabel('Base URL').fill(`${GATEWAY}v1`);
    // Enter on the focused submit: the refusal shows in the dialog and the focus stays on the button
    // (a disabled button would drop it to <body>, outside the dialog).
    const submit = dialog.getByRole('button', { name: 'Add provider' });
    await assertEnterKeepsFocus(submit, async () =>
      /API Router itself/i.test(await dialog.locator('.field-error').innerText({ timeout: 200 }).catch(() => '')) &&
      !(await submit.isDisabled()), 'Add provider (refused)');
    await textMatches(dialog.locator('.field-error'), /API Router itself/i);
    assert.equal(await dialog.getByLabel('Base URL').getAttribute('aria-invalid'), 'true');
    assert.equal(await page.getByTestId('toast-error').count(), 0, 'no error toast over the dialog');
    assert.equal(apiFailures.splice(0).join(), '400 /api/upsert_provider', 'only the gateway itself was refused');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'hidden' });

    await addProvider('p1');
    await addProvider('p2', { key: KEYS.p2, typedUrl: FAKES.p2.replace(/^http:/, 'HTTP:') });
    await expectOrder(['p1', 'p2']);
    await textMatches(row('p1'), /no key/);
    await keyNeverShown('p2', KEYS.p2);
    await textMatches(page.getByTestId('status-preferred'), /^First in list \(Relay One\)$/);
  });

  await step('set a key for Relay One; only a masked preview is shown', async () => {
    await page.getByRole('button', { name: 'Set key for Relay One' }).click();
    const dialog = page.getByRole('dialog', { name: 'API key for Relay One' });
    const field = dialog.getByLabel('New API key');
    assert.equal(await field.getAttribute('type'), 'password');
    await field.fill(KEYS.p1);
    await dialog.getByRole('button', { name: 'Save key' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await page.getByRole('button', { name: 'Change key for Relay One' }).waitFor();
    await keyNeverShown('p1', KEYS.p1);
  });

  await step('reorder with the keyboard; "first in list" says which provider that now is', async () => {
    await page.getByRole('button', { name: 'Reorder Relay Two' }).focus();
    await page.keyboard.press('ArrowUp');
    await expectOrder(['p2', 'p1']);
    await textMatches(page.getByTestId('status-preferred'), /^First in list \(Relay Two\)$/);
    await textMatches(page.getByTestId('preferred-note'), /now Relay Two/);
    // Focus stays on the moved provider's handle, so the next key moves it back.
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('aria-label')), 'Reorder Relay Two');
    await page.keyboard.press('ArrowDown');
    await expectOrder(['p1', 'p2']);
    await textMatches(page.getByTestId('status-preferred'), /^First in list \(Relay One\)$/);
  });

  await step('reorder by drag and drop', async () => {
    const target = row('p1');
    const box = await target.boundingBox();
    await page.getByRole('button', { name: 'Reorder Relay Two' }).dragTo(target, { targetPosition: { x: box.width / 2, y: 3 } });
    await expectOrder(['p2', 'p1']);
    await textMatches(page.getByTestId('status-preferred'), /^First in list \(Relay Two\)$/);
  });

  await step('lock routing to Relay One: the Gateway card says so at once; a request goes there', async () => {
    const lock = page.getByLabel('Lock routing to');
    assert.deepEqual(await lock.locator('option').allInnerTexts(), ['Automatic (no lock)', 'Relay Two', 'Relay One']);
    // Status polls are held while the lock is set: the card can only change from the Status that
    // set_manual_override returns.
    const held = [];
    await page.route('**/api/get_status', (route) => held.push(route));
    await lock.selectOption('p1');
    await textMatches(page.getByTestId('status-lock'), /^Locked to Relay One$/);
    await page.unroute('**/api/get_status');
    for (const route of held.splice(0)) await route.continue().catch(() => {});
    await textMatches(row('p1'), /locked/);
    await textMatches(page.getByTestId('status-summary'), /^Relay One · locked/);
    await eventWith('Routing locked to Relay One by user').waitFor();
    const r = await responses(token);
    assert.equal(r.status, 200);
    assert.equal(servedBy(r.body), 'p1', 'the lock wins over the preferred provider');
    await textMatches(page.getByTestId('status-active'), /^Relay One · locked by user$/);
    // Cut with "…" on a wide screen, the row's tooltip is its whole line, the provider's name included.
    assert.equal(await page.getByTestId('status-active').getAttribute('title'), 'Relay One · locked by user');
  });

  await step('back to automatic; a request goes to the first in the list', async () => {
    await page.getByRole('button', { name: 'Back to automatic' }).click();
    await textMatches(page.getByTestId('status-lock'), /^Automatic$/);
    // Routing decides afresh: the card names where the next request goes, not "no request".
    await textMatches(page.getByTestId('status-active'), /^Relay Two · next request$/);
    assert.equal(await page.getByTestId('status-active').getAttribute('title'), 'Relay Two · next request');
    assert.equal(await page.getByLabel('Lock routing to').inputValue(), '');
    await eventWith('Routing lock released').waitFor();
    const r = await responses(token);
    assert.equal(r.status, 200);
    assert.equal(servedBy(r.body), 'p2');
    await textMatches(page.getByTestId('status-active'), /^Relay Two · preferred provider$/);
    await textMatches(row('p2'), /active/);
    await eventWith('Back to preferred provider Relay Two from Relay One').waitFor();
    await textMatches(row('p2'), /Healthy/);
  });

  await step('routing card: preferred Relay Two (explicit), failure threshold 1, cooldown 60 s — one Save', async () => {
    const calls = [];
    const onRequest = (r) => r.url().includes('/api/update_routing') && calls.push(r.postDataJSON());
    page.on('request', onRequest);
    await page.getByLabel('Preferred provider').selectOption('p2');
    await textMatches(page.getByTestId('preferred-note'), /Stays put when you reorder/);
    await page.getByLabel('Failure threshold').fill('1');
    await page.getByLabel('Cooldown (s)').fill('60');
    // Enter on the focused Save: nothing is left to save after it, yet the focus stays on it.
    const save = page.getByRole('button', { name: 'Save routing' });
    await assertEnterKeepsFocus(save, async () =>
      (await page.getByRole('status').filter({ hasText: 'Routing settings saved' }).count()) > 0 &&
      (await save.isDisabled()), 'Save routing');
    await page.getByRole('status').filter({ hasText: 'Routing settings saved' }).waitFor();
    await until('Save routing to settle', async () => save.isDisabled());
    page.off('request', onRequest);
    assert.deepEqual(calls, [{ preferred_provider: 'p2', failure_threshold: 1, cooldown_seconds: 60 }]);
    await textMatches(page.getByTestId('status-preferred'), /^Relay Two$/);
  });

  await step('Relay Two fails: the request fails over to Relay One; a cooldown with time left, shown as a warning', async () => {
    await setFake('p2', 'fail');
    const r = await responses(token);
    assert.equal(r.status, 200, 'the client never sees the upstream 503');
    assert.equal(servedBy(r.body), 'p1');
    await textMatches(row('p2'), /Cooldown/);
    const countdown = page.getByLabel(/^Cooldown of Relay Two: \d+:\d\d left$/);
    await countdown.waitFor();
    log(`  ${await countdown.getAttribute('aria-label')}`);
    await page.getByRole('button', { name: /^Last error of Relay Two: HTTP 503/ }).waitFor();
    await textMatches(page.getByTestId('status-active'), /^Relay One · Relay Two: HTTP 503/);
    await textMatches(page.getByTestId('status-summary'), /^failover to Relay One/);
    await eventWith('Failover from Relay Two to Relay One').waitFor();
    const cooling = eventWith('Relay Two cooling down for 60 s');
    await cooling.waitFor();
    assert.equal(await eventWith('Failover from Relay Two to Relay One').getAttribute('data-level'), 'warning');
    assert.equal(await cooling.getAttribute('data-level'), 'warning', 'a routine cooldown is a warning');
  });

  await step('rotate the gateway token: the old one is refused, the UI keeps working', async () => {
    const p1Requests = row('p1').locator('[data-col="requests"]');
    await textMatches(p1Requests, /^2 \/ 0$/, 'Relay One ok/err = 2 / 0');
    await page.getByRole('button', { name: 'Show gateway token' }).click();
    await textMatches(page.getByTestId('gateway-token'), new RegExp(`^${FIRST_TOKEN}$`));
    await page.getByRole('button', { name: 'Rotate gateway token' }).click();
    const confirm = page.getByRole('alertdialog', { name: 'Rotate the gateway token?' });
    await confirm.getByRole('button', { name: 'Rotate token' }).click();
    await confirm.waitFor({ state: 'hidden' });
    const shown = await textMatches(page.getByTestId('gateway-token'), /^ao_\w+$/);
    assert.notEqual(shown, FIRST_TOKEN, 'a new token is shown');
    token = shown;
    assert.equal((await responses(FIRST_TOKEN)).status, 401, 'the old token is refused at /v1/responses');
    const fresh = await responses(token);
    assert.equal(fresh.status, 200);
    assert.equal(servedBy(fresh.body), 'p1', 'Relay Two is still cooling down');
    // The UI polls with the new token: the request just sent shows up in Relay One's counters.
    await textMatches(p1Requests, /^3 \/ 0$/, 'Relay One ok/err = 3 / 0');
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
    await textMatches(dialog.getByTestId('codex-state'), /Not connected/);
    await textMatches(dialog, new RegExp(esc(CODEX_HOME)), 'the CODEX_HOME path');
    await textMatches(dialog.getByLabel('config.toml block', { exact: true }), new RegExp(`base_url = "${esc(GATEWAY)}v1"`));
    await textMatches(dialog.getByLabel('auth.json content', { exact: true }),
      new RegExp(`"OPENAI_API_KEY": "ao_•{8}${token.slice(-4)}"`));
    assert.ok(!(await dialog.innerText()).includes(token.slice(3, -4)), 'the token is masked in the dialog');
    await dialog.getByRole('button', { name: 'Write Codex config' }).click();
    await textMatches(dialog.getByTestId('codex-state'), /Connected/);
    assert.ok(await dialog.getByRole('button', { name: 'Restore backup' }).isEnabled(), 'a backup was made');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    await until('the header shows Codex connected', async () =>
      (await page.getByRole('button', { name: 'Connect Codex' }).getAttribute('data-codex-state')) === 'connected');
    await textMatches(page.getByRole('button', { name: 'Connect Codex' }), /^Connect Codex · connected$/);
  });

  await step('add Relay Three and Relay Four (from the new-api relay template); Relay Three gets a model map', async () => {
    await addProvider('p3');
    await addProvider('p4', { template: { value: 'relay', url: 'https://<host>/v1' } });
    await expectOrder(['p2', 'p1', 'p3', 'p4']);
    await page.getByRole('button', { name: 'Edit Relay Three' }).click();
    const dialog = page.getByRole('dialog', { name: 'Edit Relay Three' });
    await dialog.getByRole('button', { name: 'Add mapping' }).click();
    await dialog.getByLabel('Requested model 1').fill('gpt-test');
    await dialog.getByLabel('Provider model 1').fill('vendor/gpt-test');
    await dialog.getByRole('button', { name: 'Add mapping' }).click();
    await dialog.getByLabel('Requested model 2').fill('*');
    await dialog.getByLabel('Provider model 2').fill('vendor/default');
    await dialog.getByRole('button', { name: 'Save changes' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await until('the model map is saved', async () => {
      const map = (await savedConfig(token)).providers.p3.model_map ?? {};
      return map['gpt-test'] === 'vendor/gpt-test' && map['*'] === 'vendor/default';
    });
    await textMatches(row('p3'), /model map/);
  });

  await step('settings: start hidden off, keep requests 7 days', async () => {
    await page.getByRole('button', { name: 'Settings', exact: true }).click();
    const dialog = page.getByRole('dialog', { name: 'Settings' });
    const hidden = dialog.getByLabel('Start hidden in the tray');
    assert.equal(await hidden.isChecked(), true);
    await hidden.uncheck();
    await textMatches(dialog.getByTestId('autostart-info'), /installed at|not supported/);
    await dialog.getByLabel('Keep requests for (days)').fill('7');
    await dialog.getByRole('button', { name: 'Save settings' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await until('settings saved', async () => {
      const c = await savedConfig(token);
      return c.ui.start_hidden === false && c.request_log.retention_days === 7;
    });
  });

  await step('events: "Clear seen" says what it does and marks every event as seen', async () => {
    const button = page.getByRole('button', { name: 'Clear seen' });
    await textMatches(button, /^Clear seen \(mark all as seen\)$/);
    assert.match(await button.getAttribute('title'), /Marks every event as seen/);
    await textMatches(page.getByTestId('unseen-count'), /^[1-9]\d* unseen$/i);
    await button.focus();
    await page.keyboard.press('Enter');
    await textMatches(page.getByTestId('unseen-count'), /^0 unseen$/i);
    // Nothing left to clear, but the keyboard user stays where they were.
    assert.equal(await button.getAttribute('aria-disabled'), 'true');
    assert.ok(await button.evaluate((el) => el === document.activeElement), 'focus stays on "Clear seen"');
  });

  await step(`layout at ${DEFAULT_VIEWPORT.width}×${DEFAULT_VIEWPORT.height}: whole base URLs, whole headers, reachable actions`, async () => {
    await page.setViewportSize(DEFAULT_VIEWPORT);
    await calm(page);
    for (const id of ['p1', 'p2', 'p3', 'p4']) {
      const url = page.getByTestId(`base-url-${id}`);
      assert.equal((await url.innerText()).trim(), FAKES[id]);
      const fits = await url.evaluate((el) => el.scrollWidth <= el.clientWidth + 1 && el.getBoundingClientRect().right <= innerWidth);
      assert.ok(fits, `the base URL of ${id} is shown whole`);
    }
    await assertNoClippedHeaders(page, `at ${DEFAULT_VIEWPORT.width} px`);
    // The README's picture: the window as the desktop app opens it.
    await page.emulateMedia({ colorScheme: 'light' });
    await page.screenshot({ path: join(ARTIFACTS, 'docs-dashboard.png') });
    await screenshots(page, ARTIFACTS, 'dashboard');
    await page.setViewportSize(VIEWPORT);
  });

  await step('one screen at 1320×720 with four providers: the whole dashboard, no page scroll', async () => {
    await page.setViewportSize({ width: 1320, height: 720 });
    await calm(page);
    assert.equal(await page.locator('tbody tr[data-testid^="provider-row-"]').count(), 4);
    const { scroll, inner } = await page.evaluate(() => ({
      scroll: document.documentElement.scrollHeight,
      inner: window.innerHeight,
    }));
    assert.ok(scroll <= inner, `the dashboard scrolls at 1320×720: ${scroll} px of content in ${inner} px`);
    for (const id of ['p1', 'p2', 'p3', 'p4']) await assertReachable(row(id), `the row of ${id}`);
    await assertReachable(page.getByRole('region', { name: 'Events' }), 'the Events card');
    await page.screenshot({ path: join(ARTIFACTS, `dashboard-1320x720-${SCHEME}.png`) });
    // Addresses as long as the README's (https://relay-a.example.com/v1), not 127.0.0.1's: still one screen.
    // Shown in place for one layout (a new address through the API would reset the health this run goes on
    // with); the nodes React rendered are put back as they were.
    const longer = await page.evaluate(() => {
      const parts = ['p1', 'p2', 'p3', 'p4'].flatMap((id, i) => [
        // As BaseUrl renders one: the origin with a line break offered after each "/", "." and ":".
        [document.querySelector(`[data-testid="base-url-origin-${id}"]`), `https://relay-${'abcd'[i]}.example.com`],
        [document.querySelector(`[data-testid="base-url-path-${id}"]`), '/v1'],
      ]);
      const kept = parts.map(([el]) => [...el.childNodes]);
      for (const [el, text] of parts) {
        el.replaceChildren(...text.match(/[^/.:]*[/.:]|[^/.:]+$/g).flatMap((part) => [part, document.createElement('wbr')]));
      }
      const height = document.documentElement.scrollHeight;
      parts.forEach(([el], i) => el.replaceChildren(...kept[i]));
      return height;
    });
    assert.ok(longer <= inner, `with README-length addresses the dashboard scrolls at 1320×720: ${longer} px in ${inner}`);
    // A long path (a Cloudflare AI Gateway's, and a 500-character one) stays in its cell, cut with "…".
    for (const path of ['/v1/3f1e2d4c5b6a79880f1e2d3c4b5a6978/production-codex-gateway/openai', `/${'segment'.repeat(70)}/v1`]) {
      const cut = await page.evaluate((text) => {
        const el = document.querySelector('[data-testid="base-url-path-p1"]');
        const kept = [...el.childNodes];
        el.replaceChildren(text);
        const cell = el.closest('td').getBoundingClientRect();
        const table = document.querySelector('[data-testid^="provider-row-"]').closest('table').parentElement;
        const seen = { right: el.getBoundingClientRect().right, cell: cell.right, ellipsis: el.scrollWidth > el.clientWidth,
          sideways: table.scrollWidth > table.clientWidth + 1 };
        el.replaceChildren(...kept);
        return seen;
      }, path);
      assert.ok(cut.right <= cut.cell + 0.5 && cut.ellipsis && !cut.sideways, `a ${path.length}-character path at 1320×720: ${JSON.stringify(cut)}`);
    }
    // A 48-character preferred name and a failover's whole error text (OpenAI's 500 is about 230
    // characters) in the Gateway card and the note under the preferred provider: each keeps one line.
    const wordy = await page.evaluate(() => {
      const name = 'Relay One — OpenAI direct (EU), shared with ops';
      const error = `fallback: ${name} failed: HTTP 500: The server had an error while processing your request. ` +
        'Sorry about that! You can retry your request, or contact us through our help center if the error persists.';
      const parts = [
        [document.querySelector('[data-testid="status-preferred"] span'), `First in list (${name})`],
        [document.querySelector('[data-testid="status-active"] .muted'), ` · ${error}`],
        [document.querySelector('[data-testid="preferred-note"]'), `Follows the list: now ${name}. Reordering changes it.`],
      ];
      const kept = parts.map(([el]) => [...el.childNodes]);
      for (const [el, text] of parts) el.replaceChildren(text);
      // With automatic return off, the Active row also offers "Back to …": it must stay whole in the row.
      const active = document.querySelector('[data-testid="status-active"]');
      const back = Object.assign(document.createElement('button'), { className: 'btn btn--small', textContent: `Back to ${name}` });
      active.append(' ', back);
      const row = active.getBoundingClientRect();
      const button = back.getBoundingClientRect();
      const height = document.documentElement.scrollHeight;
      back.previousSibling.remove();
      back.remove();
      parts.forEach(([el], i) => el.replaceChildren(...kept[i]));
      return { height, buttonInRow: button.left >= row.left && button.right <= row.right + 0.5 && button.width > 60 };
    });
    assert.ok(wordy.height <= inner, `with a long name and a failover's error the dashboard scrolls at 1320×720: ${wordy.height} px in ${inner}`);
    assert.ok(wordy.buttonInRow, 'the Back to … button is cut off in the Active row');
    // Locked, with "Back to automatic" offered: still one screen — also with 47-character names on every row
    // and each row's last-test badges (Test all) under its health (the locked row is the active one).
    const lock = page.getByLabel('Lock routing to');
    const was = await lock.inputValue();
    await lock.selectOption('p3');
    await page.getByRole('button', { name: 'Back to automatic' }).waitFor();
    await calm(page);
    const locked = await page.evaluate(() => {
      const plain = document.documentElement.scrollHeight;
      const undo = [];
      document.querySelectorAll('[data-testid^="provider-name-"]').forEach((el, i) => {
        const kept = [...el.childNodes];
        el.replaceChildren(['Alpha Relay Europe West Primary Production Tier', 'Beta Backup Relay Asia Pacific Secondary Region',
          'Gamma Spare Relay North America Tertiary Zone 3', 'Delta Emergency Relay South America Quaternary'][i % 4]);
        undo.push(() => el.replaceChildren(...kept));
      });
      document.querySelectorAll('.prow__health').forEach((cell) => {
        if (cell.querySelector('[data-testid^="test-badges-"]')) return;
        const badges = Object.assign(document.createElement('div'), { className: 'prow__badges' });
        for (const text of ['Test ✓ 590 ms', 'SSE ✓', 'Tools ✗', '1 model']) {
          badges.append(Object.assign(document.createElement('span'), { className: 'badge badge--xs badge--ok', textContent: text }));
        }
        cell.firstElementChild.after(badges);
        undo.push(() => badges.remove());
      });
      const wordy = document.documentElement.scrollHeight;
      undo.forEach((f) => f());
      return Math.max(plain, wordy);
    });
    await lock.selectOption(was);
    await textMatches(page.getByTestId('status-lock'), was ? /^Locked to / : /^Automatic$/);
    assert.ok(locked <= inner, `locked, the dashboard scrolls at 1320×720: ${locked} px in ${inner}`);
    await page.setViewportSize(VIEWPORT);
  });

  await step(`screenshots at ${W} px, light and dark; actions reachable, headers whole`, async () => {
    await calm(page);
    await page.getByLabel(/^Cooldown of Relay Two: \d+:\d\d left$/).waitFor(); // still cooling down in the picture
    await assertNoClippedHeaders(page, `at ${W} px`);
    await assertReachable(page.getByRole('button', { name: 'Connect Codex · connected', exact: true }), 'Connect Codex');
    await assertReachable(page.getByRole('button', { name: 'Settings', exact: true }), 'Settings');
    for (const name of ['Add provider', 'Test all', 'Refresh all usage']) await assertReachable(providers.getByRole('button', { name }), name);
    await assertReachable(page.getByRole('button', { name: 'Save routing' }), 'Save routing');
    await assertReachable(page.getByRole('button', { name: 'Delete Relay Four' }), 'the last row action');
    if (W !== DEFAULT_VIEWPORT.width) await screenshots(page, ARTIFACTS, 'dashboard');
    await page.emulateMedia({ colorScheme: SCHEME });
  });

  await step('all providers down: a banner says so, why, and what to do', async () => {
    await setFake('p1', 'fail');
    await setFake('p3', 'fail');
    await setFake('p4', 'fail');
    for (let i = 0; i < 2; i++) await responses(token);
    const banner = page.getByRole('region', { name: 'All providers down' });
    await textMatches(banner, /all providers down/);
    await textMatches(banner, /Relay Two: HTTP 503/); // why, by display name
    await textMatches(banner, /base URLs and keys/); // what to do
    await textMatches(page.getByTestId('status-summary'), /^all providers down/);
    await assertNoHorizontalScroll(page, 'with the banner');
    // Ten providers failing with a relay's 300-character error page: the banner stays a few lines tall.
    const tall = await page.evaluate(() => {
      const reason = document.querySelector('[data-testid="down-banner"] .banner__reason');
      const kept = [...reason.childNodes];
      const page502 = `HTTP 502: ${'<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html> '.repeat(4)}`;
      reason.replaceChildren(Array.from({ length: 10 }, (_, i) => `Relay ${i}: ${page502}`).join('; '));
      const banner = document.querySelector('[data-testid="down-banner"]').getBoundingClientRect().height;
      const scrolls = reason.scrollHeight > reason.clientHeight;
      reason.replaceChildren(...kept);
      return { banner, scrolls, inner: innerHeight };
    });
    assert.ok(tall.scrolls && tall.banner <= tall.inner * 0.4, `a long outage reason: ${JSON.stringify(tall)}`);
    await calm(page);
    await page.screenshot({ path: join(ARTIFACTS, `dashboard-down-${W}-${SCHEME}.png`) });
  });

  await step('Shift+Tab from the last control at 1024×500 and 720×500: the sticky header never hides the focused one', async () => {
    for (const size of [{ width: 1024, height: 500 }, { width: 720, height: 500 }]) {
      await page.setViewportSize(size);
      await calm(page);
      const header = await page.locator('.topbar').boundingBox();
      const visited = await assertShiftTabClearsHeader(page, `at ${size.width}×${size.height}`);
      log(`  ${size.width}×${size.height}: ${visited} controls, header ${Math.round(header.height)} px, none under it`);
    }
    await page.setViewportSize(VIEWPORT);
  });

  await step('a 64-character id and a 200-character name without spaces wrap: in their cell, and in a toast', async () => {
    const id = 'z' + 'w'.repeat(63);
    const name = 'N'.repeat(200);
    const r = await fetch(`${GATEWAY}api/upsert_provider`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ provider: id, display_name: name, base_url: FAKES.p3, create: true }),
      signal: AbortSignal.timeout(STEP_MS),
    });
    assert.equal(r.status, 200, 'adding the long-named provider');
    const idLabel = row(id).locator('.prow__id');
    await idLabel.waitFor();
    const [label, cell] = [await idLabel.boundingBox(), await row(id).locator('td.prow__name').boundingBox()];
    assert.ok(label.x + label.width <= cell.x + cell.width + 1, `the id runs out of its cell: ${JSON.stringify([label, cell])}`);
    // Rows re-render as the status polls come in (a new provider's health, its events): the button is
    // pressed once it is on screen, without waiting for the table to stand still.
    const setKey = page.getByRole('button', { name: `Set key for ${name}` });
    await setKey.scrollIntoViewIfNeeded();
    await setKey.click({ force: true });
    const dialog = page.getByRole('dialog', { name: `API key for ${name}` });
    await dialog.getByLabel('New API key').fill('sk-long-name-0123456789');
    await dialog.getByRole('button', { name: 'Save key' }).click();
    const toast = page.locator('.toast').filter({ hasText: `Key saved for ${name}` }).last();
    await toast.waitFor();
    await assertFitsWidth(toast.locator('.toast__text'), 'the toast that names the provider');
    await assertReachable(toast, 'the toast');
    // A report of twenty providers' failures (Refresh all usage), a line each: the toast stays in the window,
    // its close button in view, and the lines are lines.
    const report = await toast.evaluate((el) => {
      const text = el.querySelector('.toast__text');
      const message = Object.assign(document.createElement('span'), { className: 'toast__message',
        textContent: Array.from({ length: 20 }, (_, i) => `Relay ${i}: no usage endpoint found at https://relay-${i}.example.com`).join('\n') });
      text.append(message);
      const box = el.getBoundingClientRect();
      const close = el.querySelector('.toast__dismiss').getBoundingClientRect();
      const title = el.querySelector('.toast__text strong').getBoundingClientRect();
      message.scrollTop = message.scrollHeight; // read to its end: the title stays where it was
      const titleAfter = el.querySelector('.toast__text strong').getBoundingClientRect();
      const lines = message.innerText.split('\n').length; // a line break shown as one (not a space)
      const seen = { top: box.top, bottom: box.bottom, closeTop: close.top, inner: innerHeight, lines,
        titleStays: title.top >= box.top && titleAfter.top === title.top };
      message.remove();
      return seen;
    });
    assert.ok(report.top >= 0 && report.bottom <= report.inner && report.closeTop >= 0 && report.lines === 20 && report.titleStays,
      `a twenty-line toast: ${JSON.stringify(report)}`);
    await assertNoHorizontalScroll(page, 'with the long-named provider');
    const gone = await fetch(`${GATEWAY}api/delete_provider`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ provider: id }),
      signal: AbortSignal.timeout(STEP_MS),
    });
    assert.equal(gone.status, 200, 'deleting the long-named provider');
    await row(id).waitFor({ state: 'detached' });
    const dismiss = page.getByRole('button', { name: /^Dismiss: / });
    while ((await dismiss.count()) > 0) await dismiss.first().click();
  }, { selectsFit: false }); // its name and id are in the Events filter now: capped drop-downs cut them (tooltip)

  const unexpected = apiFailures.filter((f) => f !== '401 /api/get_status'); // stale polls around the rotation
  assert.deepEqual(unexpected, [], 'control API calls that failed');
  log(`PASS: ${stepNo} steps in ${elapsed()} s at ${W} px (${SCHEME})`);
} catch (e) {
  log(`FAIL at step ${stepNo} (${W} px, ${SCHEME}): ${e instanceof Error ? e.stack : e}`);
  await page.screenshot({ path: FAILURE_SHOT, fullPage: true }).catch(() => {});
  const text = await page.evaluate(() => document.body.innerText).catch(() => '(no page text)');
  console.log(`--- page text at failure ---\n${text}\n---`);
  process.exitCode = 1;
} finally {
  await browser.close().catch(() => {});
}
