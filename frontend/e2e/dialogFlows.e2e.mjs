// Provider dialogs' flows in a real browser at 720 x 600, against the real backend: a 200-character name with
// no space keeps every provider dialog's × in view and the Delete text inside its dialog; focus ends
// on the providers heading after Delete and on the renamed row after Rename (the row goes or comes
// with a later status); Add provider is refused at the id when another window added that id; Connect
// Codex says it wrote the files inside the dialog, with no toast over it.
// Run through tests/browser/test_dialog_flows_e2e.py.

import assert from 'node:assert/strict';
import {
  assertNoHorizontalScroll, controlApi, env, launchBrowser, log, signedInPage, textMatches, until, watchdog,
} from './lib.mjs';

const GATEWAY = env('E2E_GATEWAY').replace(/\/?$/, '/');
const TOKEN = env('E2E_TOKEN');
const LONG_ID = env('E2E_LONG_ID'); // its display name: 200 characters, no space
watchdog(90_000);

const api = controlApi(GATEWAY, TOKEN);

const browser = await launchBrowser();
const { page, pageErrors } = await signedInPage(browser, TOKEN, { viewport: { width: 720, height: 600 } });
page.setDefaultTimeout(8_000);

/** The open dialog's × is inside the window and the dialog, beside (not under) its title; nothing in it runs off sideways. */
async function dialogFits(where) {
  const m = await page.evaluate(() => {
    const modal = document.querySelector('.modal');
    const box = modal.getBoundingClientRect();
    const title = modal.querySelector('.modal__title').getBoundingClientRect();
    const close = modal.querySelector('.modal__header [aria-label="Close"]').getBoundingClientRect();
    const confirm = modal.querySelector('.confirm-text');
    const wide = [...modal.querySelectorAll('.modal__body *')]
      .filter((e) => e.getBoundingClientRect().right > box.right + 0.5 && e.getClientRects().length > 0)
      .map((e) => `${e.tagName.toLowerCase()}.${e.className}`);
    return {
      vw: innerWidth, vh: innerHeight, box: box.toJSON(), title: title.toJSON(), close: close.toJSON(),
      modalScroll: modal.scrollWidth - modal.clientWidth,
      confirmScroll: confirm ? confirm.scrollWidth - confirm.clientWidth : 0,
      wide,
    };
  });
  const at = `${where}: ${JSON.stringify(m)}`;
  assert.ok(m.close.width > 0 && m.close.left >= 0 && m.close.right <= m.vw && m.close.top >= 0 && m.close.bottom <= m.vh, `× in the window ${at}`);
  assert.ok(m.close.left >= m.box.left && m.close.right <= m.box.right, `× inside the dialog ${at}`);
  assert.ok(m.title.right <= m.close.left + 0.5, `the title stops before the × ${at}`);
  assert.ok(m.box.right <= m.vw && m.box.left >= 0, `the dialog inside the window ${at}`);
  assert.equal(m.modalScroll, 0, `the dialog scrolls sideways ${at}`);
  assert.equal(m.confirmScroll, 0, `the Delete text overflows ${at}`);
  assert.deepEqual(m.wide, [], `wider than the dialog ${at}`);
}

const activeId = () => page.evaluate(() => document.activeElement?.id ?? '');
const wait = (ms) => new Promise((r) => setTimeout(r, ms));

try {
  log('every provider dialog of the 200-character name keeps its × in view');
  await page.goto(GATEWAY);
  const row = page.getByTestId(`provider-row-${LONG_ID}`);
  await row.waitFor();
  await assertNoHorizontalScroll(page, 'on the dashboard');
  for (const action of ['Edit', 'Rename', 'Change key for', 'Usage settings for', 'Delete']) {
    await row.getByRole('button', { name: new RegExp(`^${action} R`) }).click();
    await page.locator('.modal').waitFor();
    await dialogFits(`"${action}"`);
    await page.keyboard.press('Escape');
    await page.locator('.modal').waitFor({ state: 'detached' });
  }

  log('Delete: focus ends on the providers heading once the row is gone');
  const delOpener = page.getByRole('button', { name: 'Delete Relay Three', exact: true });
  await delOpener.focus();
  await page.keyboard.press('Enter');
  let dialog = page.getByRole('alertdialog', { name: 'Delete Relay Three?' });
  await dialog.getByRole('button', { name: 'Delete provider' }).click();
  await page.getByTestId('provider-row-p3').waitFor({ state: 'detached' });
  await wait(1_800); // a poll after the row went
  assert.equal(await activeId(), 'providers-title', 'focus after Delete');

  log('Rename: focus ends on the renamed row’s Rename button');
  const renOpener = page.getByRole('button', { name: 'Rename Relay Two (change its id)', exact: true });
  await renOpener.focus();
  await page.keyboard.press('Enter');
  dialog = page.getByRole('dialog', { name: 'Rename Relay Two: a new provider id' });
  await dialog.getByLabel('New provider id').fill('p2moved');
  await dialog.getByLabel('New provider id').press('Enter');
  const moved = page.getByTestId('provider-row-p2moved');
  await moved.waitFor();
  await until('focus on the renamed row’s control', () =>
    page.evaluate(() => document.activeElement?.closest('tr')?.dataset.providerId === 'p2moved' &&
      document.activeElement.getAttribute('aria-label') === 'Rename Relay Two (change its id)'));
  await wait(1_800);
  assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('aria-label')), 'Rename Relay Two (change its id)', 'focus after a poll');

  log('Add provider: an id another window added meanwhile is refused at the id field, not overwritten');
  await page.getByRole('button', { name: 'Add provider' }).first().click();
  dialog = page.getByRole('dialog', { name: 'Add provider' });
  await dialog.getByLabel('Provider id').fill('u7');
  await dialog.getByLabel('Display name').fill('Mine');
  await dialog.getByLabel('Base URL').fill('http://127.0.0.1:9/mine/v1');
  // Another window adds u7 just before this one's request arrives (no status poll in between that
  // would let the form see it first).
  await page.route('**/api/upsert_provider', async (route) => {
    await api('upsert_provider', { provider: 'u7', display_name: 'Theirs', base_url: 'http://127.0.0.1:9/theirs/v1' });
    await route.continue();
  }, { times: 1 });
  await dialog.getByRole('button', { name: 'Add provider' }).click();
  await until('the id marked invalid', async () => (await dialog.getByLabel('Provider id').getAttribute('aria-invalid')) === 'true');
  await textMatches(dialog.locator('.field-error'), /^a provider named 'u7' already exists$/);
  const theirs = (await api('get_config')).providers.u7;
  assert.equal(theirs.display_name, 'Theirs');
  assert.equal(theirs.base_url, 'http://127.0.0.1:9/theirs/v1');
  await page.keyboard.press('Escape');
  await page.locator('.modal').waitFor({ state: 'detached' });

  log('Connect Codex: "configured" inside the dialog, no toast over it');
  await page.getByRole('button', { name: /^Connect Codex/ }).click();
  dialog = page.getByRole('dialog', { name: 'Connect Codex' });
  const write = dialog.getByRole('button', { name: 'Write Codex config' });
  await write.focus();
  await page.keyboard.press('Enter');
  const status = dialog.getByRole('status');
  await textMatches(status, /^Codex configured/);
  assert.ok(await write.evaluate((el) => el === document.activeElement), 'focus stays on "Write Codex config"');
  await wait(300);
  const toasts = await page.locator('.toast').allInnerTexts();
  assert.deepEqual(toasts.filter((t) => /codex/i.test(t)), [], 'a Codex toast');
  const s = await status.boundingBox();
  assert.ok(s && s.y >= 0 && s.y + s.height <= 600, `the status line in view: ${JSON.stringify(s)}`);

  assert.deepEqual(pageErrors, []);
  log('PASS');
} catch (e) {
  await page.screenshot({ path: `${env('E2E_ARTIFACTS')}/dialog-flows-failure.png` }).catch(() => {});
  log(`FAIL: ${e instanceof Error ? e.stack : e}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
