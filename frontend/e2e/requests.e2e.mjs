// The Requests page, provider tests and Connect Codex's "token out of date" end to end (started by
// tests/browser/test_requests_e2e.py once per window width).
// The app was seeded with 104 requests of session s-bulk served by Relay One (p1) and one request of
// session s-fail that failed over from Relay One (HTTP 502) to Relay Two (p2, model map
// gpt-test → vendor/gpt-test). Relay Three (p3) has served nothing. request_timeout_seconds is 1.5.
//
//   E2E_GATEWAY        the app                      E2E_TOKEN        the gateway token
//   E2E_FAKE_CONTROL   POST <url>/<name>/<ok|fail|hang>: how a fake upstream answers from now on
//   E2E_CODEX_HOME     the CODEX_HOME the app writes to
//   E2E_WIDTH / E2E_SCHEME / E2E_ARTIFACTS

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  STEP_MS,
  assertEnterKeepsFocus,
  assertFitsWidth,
  assertNoClippedHeaders,
  assertNoHorizontalScroll,
  assertReachable,
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

const GATEWAY = env('E2E_GATEWAY').replace(/\/?$/, '/');
let token = env('E2E_TOKEN');
const FAKE_CONTROL = env('E2E_FAKE_CONTROL');
const CODEX_HOME = env('E2E_CODEX_HOME');
const ARTIFACTS = env('E2E_ARTIFACTS');
const { viewport: VIEWPORT, scheme: SCHEME } = runViewport();
const W = VIEWPORT.width;
watchdog(110_000);

async function responses(headers = {}) {
  const r = await fetch(`${GATEWAY}v1/responses`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', ...headers },
    body: JSON.stringify({ model: 'gpt-test', stream: false, input: 'say hi' }),
    signal: AbortSignal.timeout(STEP_MS),
  });
  return { status: r.status, body: await r.json().catch(() => null) };
}

async function api(method, args = {}) {
  const r = await fetch(`${GATEWAY}api/${method}`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(args),
    signal: AbortSignal.timeout(STEP_MS),
  });
  return r.json();
}

async function setFake(name, mode) {
  const r = await fetch(`${FAKE_CONTROL}/${name}/${mode}`, { method: 'POST', signal: AbortSignal.timeout(STEP_MS) });
  assert.equal(r.status, 200, `fake control ${name}/${mode}`);
}

const browser = await launchBrowser();
const context = await browser.newContext({ viewport: VIEWPORT, colorScheme: SCHEME, acceptDownloads: true });
await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(GATEWAY).origin });
await context.addInitScript((t) => sessionStorage.setItem('api-router.gateway-token', t), token);
const page = await context.newPage();
page.setDefaultTimeout(STEP_MS);
const pageErrors = [];
page.on('pageerror', (e) => pageErrors.push(e.message));

let stepNo = 0;
async function step(name, fn) {
  stepNo += 1;
  log(`step ${stepNo}: ${name}`);
  await fn();
  assert.deepEqual(await page.getByTestId('toast-error').allInnerTexts(), [], `error toast after "${name}"`);
  assert.deepEqual(pageErrors, [], 'uncaught errors in the page');
  await assertNoHorizontalScroll(page, `after "${name}" at ${W} px`);
}

const row = (id) => page.getByTestId(`provider-row-${id}`);
const requestRows = () => page.locator('[data-testid^="request-row-"]');

try {
  await step('a provider test shows latency, streaming, tool calls and models, and stays as badges', async () => {
    await page.goto(GATEWAY);
    await page.getByRole('button', { name: 'Test Relay One' }).click();
    const result = page.getByRole('group', { name: 'Test result for Relay One' });
    await textMatches(result, /Passed/);
    await textMatches(result, /latency \d/);
    await textMatches(result, /first event \d/);
    await textMatches(result, /Streaming ✓/);
    await textMatches(result, /Tool calls ✓/);
    // The model list is shown as the test ends, without a click.
    await result.getByTestId('test-models-p1').waitFor({ state: 'visible' });
    await textMatches(result.getByTestId('test-models-p1'), /p1-model-a/);
    await textMatches(page.getByTestId('test-badges-p1'), /Test ✓/);
    await page.getByRole('button', { name: 'Close test result for Relay One' }).click();
    await textMatches(page.getByTestId('test-badges-p1'), /Test ✓/); // the last test stays on the row
  });

  await step('Relay Three stops answering: unresponsive; after it answers again, a passing test makes it healthy', async () => {
    await setFake('p3', 'hang');
    await page.getByLabel('Lock routing to').selectOption('p3');
    await textMatches(page.getByTestId('status-lock'), /^Locked to Relay Three$/);
    const r = await responses();
    assert.notEqual(r.status, 200, 'a hung provider under a lock cannot answer');
    await textMatches(row('p3'), /Unresponsive/);
    await page.getByRole('button', { name: 'Back to automatic' }).click();
    await textMatches(page.getByTestId('status-lock'), /^Automatic$/);
    await setFake('p3', 'ok');
    await page.getByRole('button', { name: 'Test Relay Three' }).click();
    await textMatches(page.getByRole('group', { name: 'Test result for Relay Three' }), /Passed/);
    await textMatches(row('p3'), /Healthy/);
  });

  await step('"Test all" tests every provider; the focus stays on it meanwhile', async () => {
    const all = page.getByRole('button', { name: 'Test all' });
    await assertEnterKeepsFocus(all, async () => {
      for (const name of ['Relay One', 'Relay Two', 'Relay Three']) {
        const result = page.getByRole('group', { name: `Test result for ${name}` });
        if (!(await result.count()) || !/Passed|Failed/.test(await result.innerText())) return false;
      }
      return !(await all.isDisabled());
    }, 'Test all');
    for (const name of ['Relay One', 'Relay Two', 'Relay Three']) {
      await textMatches(page.getByRole('group', { name: `Test result for ${name}` }), /Passed/, `${name} passed`);
    }
    for (const id of ['p1', 'p2', 'p3']) await textMatches(page.getByTestId(`test-badges-${id}`), /Test ✓/);
  });

  await step('Requests page: newest first, by display name, a page of 100 with older pages behind it', async () => {
    await page.getByRole('link', { name: 'Requests' }).click();
    await page.getByRole('table', { name: 'Requests' }).waitFor();
    await until('100 rows', async () => (await requestRows().count()) === 100);
    const range = await textMatches(page.getByTestId('requests-range'), /^1–100 of [\d,]+ matching$/);
    const total = Number(range.replace(/^.* of ([\d,]+) matching$/, '$1').replace(/,/g, ''));
    assert.ok(total >= 106, `every request is counted (${total})`);
    await textMatches(page.getByTestId('counting-note-requests'), /attempts/);
    await textMatches(page.getByTestId('requests-live'), /Live/);
    const first = await requestRows().first().getAttribute('data-testid');
    await page.getByRole('button', { name: 'Older' }).click();
    await textMatches(page.getByTestId('requests-range'), /^101–/);
    await textMatches(page.getByTestId('requests-live'), /Paused on an older page/);
    await page.getByRole('button', { name: 'Newest' }).click();
    await textMatches(page.getByTestId('requests-range'), /^1–100 /);
    assert.equal(await requestRows().first().getAttribute('data-testid'), first);
    // The far end in one step, a full page of the oldest; from there Newer climbs back to the live page.
    const n = (v) => v.toLocaleString('en-US');
    await page.getByRole('button', { name: 'Oldest' }).click();
    await textMatches(page.getByTestId('requests-range'), new RegExp(`^${n(total - 99)}–${n(total)} of ${n(total)} matching$`));
    await until('100 rows', async () => (await requestRows().count()) === 100);
    assert.equal(await page.getByRole('button', { name: 'Older' }).getAttribute('aria-disabled'), 'true');
    await page.getByRole('button', { name: 'Newer' }).click();
    await textMatches(page.getByTestId('requests-live'), /Live/);
    await textMatches(page.getByTestId('requests-range'), /^1–100 /);
    await assertNoClippedHeaders(page, `on the Requests page at ${W} px`);
  });

  await step('the first page is live: a new request shows up by itself', async () => {
    const before = await requestRows().first().getAttribute('data-testid');
    assert.equal((await responses({ session_id: 's-live' })).status, 200);
    await until('the new request on top', async () => (await requestRows().first().getAttribute('data-testid')) !== before, 6_000);
  });

  await step('filters come from the address: Relay Two, failed over; the row opens into its attempt chain', async () => {
    await page.goto(`${GATEWAY}#/requests?provider=p2`);
    await until('only Relay Two', async () => {
      const providers = await requestRows().evaluateAll((rows) => rows.map((r) => r.getAttribute('data-provider')));
      return providers.length > 0 && providers.every((p) => p === 'p2');
    });
    assert.equal(await page.getByLabel('Provider').inputValue(), 'p2');
    await page.getByLabel('Outcome').selectOption('failover');
    await until('the address has both filters', async () => /provider=p2/.test(page.url()) && /outcome=failover/.test(page.url()));
    await until('one failover', async () => (await requestRows().count()) === 1);
    const r = requestRows().first();
    await textMatches(r, /Relay Two/);
    await textMatches(r, /gpt-test → vendor\/gpt-test/);
    await textMatches(r, /failover/);
    await r.locator('td.num').first().click(); // anywhere on the row opens it, not only its button
    const detail = page.getByRole('group', { name: /^Request / });
    const chain = detail.getByRole('table', { name: /^Attempts of request / });
    await until('two attempts', async () => (await chain.locator('tbody tr').count()) === 2);
    await textMatches(chain.locator('tbody tr').nth(0), /Relay One[\s\S]*failed[\s\S]*502/);
    await textMatches(chain.locator('tbody tr').nth(1), /Relay Two[\s\S]*served/);
    await textMatches(detail, /request \d[\d.]* (B|KB)/);
    await detail.getByRole('button', { name: 'Copy request id' }).click();
    const requestId = (await detail.locator('code').first().innerText()).trim();
    await until('the request id on the clipboard', async () => (await page.evaluate(() => navigator.clipboard.readText())) === requestId);
    await detail.getByRole('button', { name: 'Copy the error of attempt 1' }).click();
    await until('the error on the clipboard', async () => /502/.test(await page.evaluate(() => navigator.clipboard.readText())));
    // A long name without spaces wraps inside the opened request: the table keeps its width, and every
    // control of the request stays in the window.
    const long = 'RelayOneWithAVeryLongNameThatHasNoSpacesAtAll-' + 'X'.repeat(60);
    await api('upsert_provider', { provider: 'p1', display_name: long });
    await textMatches(chain.locator('tbody tr').nth(0), new RegExp(long));
    await assertFitsWidth(page.locator('.table-wrap', { has: page.getByRole('table', { name: 'Requests' }) }),
      `the requests table with a request open at ${W} px`);
    await assertFitsWidth(chain.locator('xpath=..'), `the attempt chain at ${W} px`);
    await assertReachable(detail.getByRole('button', { name: 'Copy the error of attempt 1' }), 'Copy the error of attempt 1');
    await api('upsert_provider', { provider: 'p1', display_name: 'Relay One' });
    await textMatches(chain.locator('tbody tr').nth(0), /Relay One/);
    await assertNoClippedHeaders(page, `with an attempt chain open at ${W} px`);
    await calm(page);
    await screenshots(page, ARTIFACTS, 'requests');
    // Its button toggles it once (the row's own click does not undo it).
    await r.getByRole('button', { name: /, close request / }).click();
    await until('the chain closed', async () => (await chain.count()) === 0);
    await r.getByRole('button', { name: /, open request / }).click();
    await until('the chain open again', async () => (await chain.count()) === 1);
    if (W === 1400) {
      // The README's picture of this page: the desktop window's size, light.
      await page.setViewportSize({ width: 1180, height: 800 });
      await page.emulateMedia({ colorScheme: 'light' });
      await calm(page);
      await page.screenshot({ path: join(ARTIFACTS, 'docs-requests.png') });
      await page.setViewportSize(VIEWPORT);
    }
    await page.emulateMedia({ colorScheme: SCHEME });
  });

  await step('a request nobody served names whom it asked', async () => {
    await page.goto(`${GATEWAY}#/requests?outcome=error`);
    await until('the request Relay Three did not answer', async () => (await requestRows().count()) === 1);
    const r = requestRows().first();
    assert.equal(await r.getAttribute('data-provider'), '');
    await textMatches(r.locator('.rrow__provider'), /^none · tried Relay Three$/);
    // Clear filters leaves nothing to clear, yet keeps the focus.
    const clear = page.getByRole('button', { name: 'Clear filters' });
    await assertEnterKeepsFocus(clear, async () =>
      !/outcome=/.test(page.url()) && (await clear.isDisabled()), 'Clear filters');
    await until('every request again', async () => (await requestRows().count()) > 1);
  });

  await step('free text from the address; the session links to its timeline on the Usage page', async () => {
    await page.goto(`${GATEWAY}#/requests?q=S-FAIL`);
    await until('the s-fail request', async () => (await requestRows().count()) === 1);
    assert.equal(await page.getByLabel('Search').inputValue(), 'S-FAIL');
    // The session column stays at every width (only TTFT folds away on narrow windows).
    const link = requestRows().first().getByRole('link', { name: 's-fail' });
    await assertReachable(link, 'the session link of the row');
    await assertNoHorizontalScroll(page, 'on the Requests page');
    await assertNoClippedHeaders(page, 'on the Requests page');
    await link.click();
    await until('the usage page with the session', async () => /#\/usage\?session=s-fail$/.test(page.url()));
    const timeline = page.getByTestId('session-timeline');
    await until('the s-fail timeline', async () => (await timeline.getAttribute('data-session-id')) === 's-fail');
    await textMatches(page.getByTestId('timeline-entry-1'), /failover/);
    // What the link asked for is in view, not below the charts.
    await until('the timeline in view', async () => {
      const box = await timeline.boundingBox();
      return box !== null && box.y >= 0 && box.y < page.viewportSize().height - 40;
    });
  });

  await step('a page named by its path, with the control API\'s filter names', async () => {
    await page.goto(`${GATEWAY}requests?text=S-FAIL`);
    await until('the Requests page at its hash', async () => /\/#\/requests\?text=S-FAIL$/.test(page.url()));
    await until('the s-fail request', async () => (await requestRows().count()) === 1);
    assert.equal(await page.getByLabel('Search').inputValue(), 'S-FAIL');
  });

  await step('export the filtered rows as CSV and JSONL', async () => {
    await page.goto(`${GATEWAY}#/requests?provider=p2`);
    await until('Relay Two rows', async () => (await requestRows().count()) > 0);
    const total = Number((await page.getByTestId('requests-range').innerText()).replace(/^.* of ([\d,]+) matching$/, '$1').replace(/,/g, ''));
    for (const format of ['csv', 'jsonl']) {
      const button = page.getByRole('button', { name: `Export ${format.toUpperCase()}` });
      const downloading = page.waitForEvent('download', { timeout: STEP_MS });
      if (format === 'csv') {
        // Enter on the focused button: busy while it exports, and the focus stays on it.
        await assertEnterKeepsFocus(button, async () =>
          (await page.getByRole('status').filter({ hasText: 'Exported' }).count()) > 0 &&
          !(await button.isDisabled()), 'Export CSV');
      } else {
        await button.click();
      }
      const download = await downloading;
      assert.match(download.suggestedFilename(), new RegExp(`\\.${format}$`));
      const file = join(ARTIFACTS, `requests-${W}-export.${format}`);
      await download.saveAs(file);
      const text = readFileSync(file, 'utf8').trim();
      const lines = text.split('\n');
      if (format === 'jsonl') {
        assert.equal(lines.length, total, 'one line per filtered row');
        assert.ok(lines.every((l) => JSON.parse(l).provider === 'p2'), 'only Relay Two rows');
      } else {
        assert.equal(lines.length, total + 1, 'a header and one line per filtered row');
      }
      await page.getByRole('status').filter({ hasText: `Exported ${total} request` }).first().waitFor();
    }
  });

  await step('Connect Codex: connected, then "token out of date" after auth.json changed, then rewritten', async () => {
    await page.goto(GATEWAY);
    // On the smallest window the app supports (720×480): the dialog itself says Codex is configured
    // (a status line inside it, in view); no toast covers the dialog.
    if (W === 720) await page.setViewportSize({ width: 720, height: 480 });
    const opener = page.getByRole('button', { name: 'Connect Codex' });
    await opener.click();
    const dialog = page.getByRole('dialog', { name: 'Connect Codex' });
    await dialog.getByRole('button', { name: 'Write Codex config' }).click();
    await textMatches(dialog.getByTestId('codex-state'), /Connected/);
    const notice = dialog.getByRole('status');
    await textMatches(notice, /^Codex configured/);
    const n = await notice.boundingBox();
    assert.ok(n && n.y >= 0 && n.y + n.height <= (W === 720 ? 480 : VIEWPORT.height), `the status line is in view at ${W} px`);
    const m = await page.locator('.modal').boundingBox();
    for (const t of await page.locator('.toast').all()) {
      const r = await t.boundingBox();
      const overlap = r && m && r.x < m.x + m.width && m.x < r.x + r.width && r.y < m.y + m.height && m.y < r.y + r.height;
      assert.ok(!overlap, `a toast ("${await t.innerText()}") covers the Connect Codex dialog at ${W} px`);
    }
    await page.keyboard.press('Escape');
    await page.setViewportSize(VIEWPORT);
    // Someone (or another tool) puts another token into Codex's auth.json.
    const other = `ao_${randomBytes(16).toString('hex')}`;
    assert.notEqual(other, token);
    writeFileSync(join(CODEX_HOME, 'auth.json'), JSON.stringify({ OPENAI_API_KEY: other }), 'utf8');
    // The header notices by itself, without a reload or opening the dialog (it reads Codex's files every 10 s).
    await until('the header says so', async () => (await opener.getAttribute('data-codex-state')) === 'token_out_of_date', 15_000);
    await textMatches(opener, /^Connect Codex · token out of date$/);
    await opener.click();
    await textMatches(dialog.getByTestId('codex-state'), /Token out of date/);
    await dialog.getByRole('button', { name: 'Rewrite auth.json' }).click();
    await textMatches(dialog.getByTestId('codex-state'), /Connected/);
    await page.keyboard.press('Escape');
    await assertReachable(opener, 'Connect Codex');
  });

  await step('rotating the gateway token keeps Codex connected (auth.json is rewritten) and the header re-reads it', async () => {
    await page.getByRole('button', { name: 'Rotate gateway token' }).click();
    await page.getByRole('alertdialog', { name: 'Rotate the gateway token?' }).getByRole('button', { name: 'Rotate token' }).click();
    await page.getByRole('button', { name: 'Show gateway token' }).click();
    token = await textMatches(page.getByTestId('gateway-token'), /^ao_\w+$/);
    const auth = JSON.parse(readFileSync(join(CODEX_HOME, 'auth.json'), 'utf8'));
    assert.equal(auth.OPENAI_API_KEY, token, 'auth.json holds the new token');
    await until('Codex still connected', async () =>
      (await page.getByRole('button', { name: 'Connect Codex' }).getAttribute('data-codex-state')) === 'connected');
    assert.equal((await api('get_codex_setup')).state, 'connected');
  });

  await step('an open attempt chain follows a rename of its provider\'s id (names, not the old raw id)', async () => {
    await page.goto(`${GATEWAY}#/requests?provider=p2&outcome=failover`);
    await until('one failover', async () => (await requestRows().count()) === 1);
    await requestRows().first().getByRole('button', { name: /, open request / }).click();
    const chain = page.getByRole('group', { name: /^Request / }).getByRole('table', { name: /^Attempts of request / });
    await until('two attempts', async () => (await chain.locator('tbody tr').count()) === 2);
    await textMatches(chain.locator('tbody tr').nth(0), /^1\s+Relay One\b/);
    const renamed = await api('rename_provider', { provider: 'p1', new_id: 'relay_one' });
    assert.ok(renamed && !('error' in renamed), `rename_provider: ${JSON.stringify(renamed)}`);
    // The app knows the new id (the names it resolves with have changed)…
    await until('relay_one in the provider filter', async () =>
      (await page.getByLabel('Provider').locator('option[value="relay_one"]').count()) === 1);
    // …and the chain still open names the provider, not the id it was read with ("p1").
    await textMatches(chain.locator('tbody tr').nth(0), /^1\s+Relay One\b/, 'the open chain names Relay One after the rename');
    await textMatches(chain.locator('tbody tr').nth(1), /^2\s+Relay Two\b/);
  });

  await step('a provider filter follows a rename of that provider: same rows, its name in the drop-down', async () => {
    await page.goto(`${GATEWAY}#/requests?provider=p2`);
    const providers = () => requestRows().evaluateAll((rows) => rows.map((r) => r.getAttribute('data-provider')));
    await until('only Relay Two', async () => {
      const ids = await providers();
      return ids.length > 0 && ids.every((p) => p === 'p2');
    });
    const range = await textMatches(page.getByTestId('requests-range'), /^1–\d+ of \d+ matching$/);
    const renamed = await api('rename_provider', { provider: 'p2', new_id: 'relay_two' });
    assert.ok(renamed && !('error' in renamed), `rename_provider: ${JSON.stringify(renamed)}`);
    await until('the address follows the rename', async () => /[?&]provider=relay_two(&|$)/.test(page.url()));
    const select = page.getByLabel('Provider');
    await until('the drop-down on relay_two', async () => (await select.inputValue()) === 'relay_two');
    assert.equal(await select.locator('option:checked').innerText(), 'Relay Two');
    assert.equal(await select.locator('option[value="p2"]').count(), 0, 'no option for the dead id');
    await textMatches(page.getByTestId('requests-range'), new RegExp(`^${esc(range)}$`),
      'the same rows match');
    await until('only relay_two rows', async () => {
      const ids = await providers();
      return ids.length > 0 && ids.every((p) => p === 'relay_two');
    });
  });

  log(`PASS: ${stepNo} steps in ${elapsed()} s at ${W} px (${SCHEME})`);
} catch (e) {
  log(`FAIL at step ${stepNo} (${W} px): ${e instanceof Error ? e.stack : e}`);
  await page.screenshot({ path: join(ARTIFACTS, `requests-${W}-failure.png`), fullPage: true }).catch(() => {});
  const text = await page.evaluate(() => document.body.innerText).catch(() => '(no page text)');
  console.log(`--- page text at failure ---\n${text}\n---`);
  process.exitCode = 1;
} finally {
  await browser.close().catch(() => {});
}
