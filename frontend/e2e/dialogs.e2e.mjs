// Long names and narrow dialogs in a real browser at 720 x 600: 200-character provider names never
// make a page scroll sideways; a server refusal shows in the dialog with no toast over it; Add provider whose key
// is refused goes on to that provider's key dialog; a dialog whose provider was renamed elsewhere
// closes, says so, and does not come back; the Usage charts have accessible names.
// Run through tests/browser/test_dialogs_e2e.py.

import assert from 'node:assert/strict';
import {
  assertNoHorizontalScroll, controlApi, env, launchBrowser, log, signedInPage, textMatches, until, watchdog,
} from './lib.mjs';

const GATEWAY = env('E2E_GATEWAY').replace(/\/?$/, '/');
const TOKEN = env('E2E_TOKEN');
const NAMES = JSON.parse(env('E2E_NAMES')); // {id: display name}
watchdog(90_000);

const api = controlApi(GATEWAY, TOKEN);

const browser = await launchBrowser();
const { page, pageErrors } = await signedInPage(browser, TOKEN, { viewport: { width: 720, height: 600 } });
page.setDefaultTimeout(8_000);

/** No error toast is shown, and no toast at all overlaps the open dialog's box. */
async function noToastOverDialog(where) {
  const out = await page.evaluate(() => {
    const modal = document.querySelector('.modal')?.getBoundingClientRect();
    const toasts = [...document.querySelectorAll('.toast')].map((t) => ({ error: t.classList.contains('toast--error'), r: t.getBoundingClientRect(), text: t.textContent }));
    const over = toasts.filter(({ r }) => modal && r.left < modal.right && modal.left < r.right && r.top < modal.bottom && modal.top < r.bottom);
    return { errors: toasts.filter((t) => t.error).map((t) => t.text), over: over.map((t) => t.text) };
  });
  assert.deepEqual(out.errors, [], `error toasts ${where}`);
  assert.deepEqual(out.over, [], `toasts over the dialog ${where}`);
}

try {
  const [longId, spacedId] = Object.keys(NAMES);
  log('dashboard: 200-character names, with and without spaces');
  await page.goto(GATEWAY);
  await page.getByTestId(`provider-row-${longId}`).waitFor();
  await page.getByTestId(`provider-row-${spacedId}`).waitFor();
  await assertNoHorizontalScroll(page, 'on the dashboard');
  const filter = page.getByRole('region', { name: 'Events' }).getByRole('combobox', { name: 'Provider', exact: true });
  await filter.selectOption(longId);
  assert.equal(await filter.getAttribute('title'), NAMES[longId]);
  await assertNoHorizontalScroll(page, 'on the dashboard with the long name picked in the events filter');

  log('requests page');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Requests' }).click();
  await until('request rows', async () => (await page.locator('tbody tr').count()) > 0);
  await assertNoHorizontalScroll(page, 'on the Requests page');

  log('usage page: legend, session header, chart names');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Usage' }).click();
  await page.getByTestId('usage-chart-tokens').locator('svg').first().waitFor();
  await page.getByTestId('session-timeline').waitFor();
  await assertNoHorizontalScroll(page, 'on the Usage page');
  const legendTitles = await page.locator('.recharts-legend-item-text span[title]').evaluateAll((els) => els.map((e) => e.title));
  assert.ok(legendTitles.includes(NAMES[longId]), `legend titles: ${legendTitles.join(' | ').slice(0, 200)}`);
  for (const name of ['Tokens over time', 'Latency percentiles']) {
    assert.ok((await page.getByRole('application', { name: new RegExp(`^${name}`) }).count()) >= 1, `chart named ${name}`);
  }
  const unnamed = await page.locator('svg[role="application"]').evaluateAll((els) => els.filter((e) => !e.getAttribute('aria-label')).length);
  assert.equal(unnamed, 0, 'every chart has a name');

  log('a refused base URL shows at the field, with no toast over the dialog');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Dashboard' }).click();
  await page.getByRole('button', { name: 'Add provider' }).first().click();
  let dialog = page.getByRole('dialog', { name: 'Add provider' });
  await dialog.getByLabel('Provider id').fill('u9');
  await dialog.getByLabel('Base URL').fill('http://a..b/v1');
  await dialog.getByRole('button', { name: 'Add provider' }).click();
  await until('the base URL marked invalid', async () => (await dialog.getByLabel('Base URL').getAttribute('aria-invalid')) === 'true');
  await textMatches(dialog.locator('.field-error'), /^base_url /);
  await new Promise((r) => setTimeout(r, 300));
  await noToastOverDialog('after a refused base URL');

  log('add with a key the server refuses: the key dialog of the new provider takes over');
  await page.route('**/api/set_provider_key', (route) =>
    route.fulfill({ status: 400, contentType: 'application/json', body: JSON.stringify({ error: { message: 'key must be ASCII', type: 'invalid_request' } }) }));
  await dialog.getByLabel('Provider id').fill('u8');
  await dialog.getByLabel('Display name').fill('Relay Eight');
  await dialog.getByLabel('Base URL').fill('http://127.0.0.1:9/v1');
  await dialog.getByLabel('API key (optional)').fill('sk-e2e-refused-1234');
  await dialog.getByRole('button', { name: 'Add provider' }).click();
  dialog = page.getByRole('dialog', { name: 'API key for Relay Eight' });
  await dialog.waitFor();
  await textMatches(dialog.locator('.field-error'), /^Relay Eight was added, but its key was not saved: key must be ASCII$/);
  await noToastOverDialog('after the key was refused');
  await page.unroute('**/api/set_provider_key');
  await dialog.getByLabel('New API key').fill('sk-e2e-fixed-5678');
  await dialog.getByRole('button', { name: 'Save key' }).click();
  await dialog.waitFor({ state: 'detached' });
  await until('the key saved', async () => (await api('get_config')).providers.u8?.has_key === true);

  log('a dialog whose provider is renamed elsewhere closes, says so, and does not come back');
  await page.getByRole('button', { name: 'Edit Relay Three', exact: true }).click();
  await page.getByRole('dialog', { name: 'Edit Relay Three' }).waitFor();
  await api('rename_provider', { provider: 'p3', new_id: 'p3moved' });
  await page.locator('.modal').waitFor({ state: 'detached' });
  await textMatches(page.locator('.toasts'), /Relay Three was renamed or deleted meanwhile/);
  await api('rename_provider', { provider: 'p3moved', new_id: 'p3' });
  await page.getByTestId('provider-row-p3').waitFor();
  await new Promise((r) => setTimeout(r, 3_500)); // two polls
  assert.equal(await page.locator('.modal').count(), 0, 'the dialog came back by itself');

  log('a 360 px window: the buttons of a dialog footer take two rows rather than run past its left edge');
  await api('set_usage_token', { provider: 'p3', token: 'ut-e2e-0123456789' });
  await page.setViewportSize({ width: 360, height: 640 });
  for (const opener of [page.getByRole('button', { name: 'Usage settings for Relay Three', exact: true }), page.getByRole('button', { name: 'Connect Codex' }).first()]) {
    await opener.scrollIntoViewIfNeeded();
    await opener.click();
    const modal = page.locator('.modal');
    await modal.locator('.modal__footer button').first().waitFor();
    const out = await modal.evaluate((el) => {
      const box = el.getBoundingClientRect();
      return [...el.querySelectorAll('.modal__footer button')].map((b) => b.getBoundingClientRect())
        .filter((r) => r.left < box.left - 0.5 || r.right > box.right + 0.5).length;
    });
    assert.equal(out, 0, `footer buttons outside the dialog at 360 px (${await modal.locator('h2').first().innerText()})`);
    await page.keyboard.press('Escape');
    await modal.waitFor({ state: 'detached' });
  }
  await page.setViewportSize({ width: 720, height: 600 });

  assert.deepEqual(pageErrors, []);
  log('PASS');
} catch (e) {
  await page.screenshot({ path: `${env('E2E_ARTIFACTS')}/dialogs-failure.png` }).catch(() => {});
  log(`FAIL: ${e instanceof Error ? e.stack : e}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
