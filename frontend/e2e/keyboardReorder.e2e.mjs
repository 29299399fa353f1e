// Keyboard reordering and gone providers in a real browser at 720 x 480, against the real backend.
// The first provider's name wraps its row onto several lines: moving the second provider up by keyboard
// puts its still-focused handle where the sticky header would cover it, and moving it down again where
// the window's bottom edge would cut it; the handle must stay wholly in view below the header, scrolled
// the least distance, once the row is at its new place and again once the saved order's status (which
// resizes the cards above) is shown. Then every provider is deleted: the Events and Requests provider
// filters say that no provider has the chosen id now, for an id never configured too.
// Run through tests/browser/test_keyboard_reorder_e2e.py.

import assert from 'node:assert/strict';
import { controlApi, env, launchBrowser, log, signedInPage, textMatches, until, watchdog } from './lib.mjs';

const GATEWAY = env('E2E_GATEWAY').replace(/\/?$/, '/');
const TOKEN = env('E2E_TOKEN');
const NAMES = JSON.parse(env('E2E_NAMES')); // id -> display name, in the configured order
const [LONG_ID, MOVED_ID] = Object.keys(NAMES);
const MOVED = NAMES[MOVED_ID];
const VIEWPORT = { width: 720, height: 480 };
/** `scroll-padding-top` is the header's height + 6 px (styles.css): where "the least distance" stops. */
const PADDING = 6;
watchdog(90_000);

const api = controlApi(GATEWAY, TOKEN);

const browser = await launchBrowser();
const { page, pageErrors } = await signedInPage(browser, TOKEN, { viewport: VIEWPORT });
page.setDefaultTimeout(8_000);

const wait = (ms) => new Promise((r) => setTimeout(r, ms));
/** Two frames: whatever was scheduled for the next frame has run and been painted. */
const frames = () => page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r()))));

/** Where the focused control is against the sticky header and the window. */
const focused = () =>
  page.evaluate(() => {
    const a = document.activeElement;
    const r = a.getBoundingClientRect();
    return {
      label: a.getAttribute('aria-label'),
      top: r.top,
      bottom: r.bottom,
      headerBottom: document.querySelector('header').getBoundingClientRect().bottom,
      height: innerHeight,
      scrollY,
    };
  });

/** The focused control is `label`, wholly below the sticky header and above the window's bottom edge. */
async function handleInView(label, where) {
  const f = await focused();
  const at = `${where}: ${JSON.stringify(f)}`;
  assert.equal(f.label, label, `focus ${at}`);
  assert.ok(f.top >= f.headerBottom - 0.5, `the handle is under the sticky header ${at}`);
  assert.ok(f.bottom <= f.height + 0.5, `the handle is below the window's bottom edge ${at}`);
  return f;
}

/** Scrolls the page so that the focused control's top is at `y` (px from the window's top). */
async function scrollFocusedTo(y) {
  await page.evaluate((to) => scrollBy(0, document.activeElement.getBoundingClientRect().top - to), y);
  await frames();
}

/**
 * Presses `key` on the focused handle; checks the handle while the new order is shown but not yet saved
 * (the save is held back meanwhile), and again once it is saved and the status read after it is shown.
 */
async function moveByKey(key, order) {
  const label = `Reorder ${MOVED}`;
  let release = null;
  await page.route('**/api/set_provider_order', async (route) => {
    await new Promise((r) => (release = r));
    await route.continue();
  }, { times: 1 });
  await page.keyboard.press(key);
  await frames();
  await until('the save asked for', () => release !== null);
  const moved = await handleInView(label, `right after ${key}`);
  release();
  await until(`the order saved as ${order}`, async () => (await api('get_config')).provider_order.join() === order.join());
  await until(`the saved order shown (${order[0]} first)`, () =>
    page.evaluate((first) => document.querySelector('[data-testid^="provider-row-"]')?.dataset.providerId === first, order[0]));
  await wait(500); // the status read after the save
  await frames();
  await handleInView(label, `once the order saved after ${key} is shown`);
  return moved;
}

try {
  await page.goto(GATEWAY);
  const handle = page.getByRole('button', { name: `Reorder ${MOVED}`, exact: true });
  await handle.waitFor();
  const rows = await page.evaluate(([a, b]) => [a, b].map((id) => document.querySelector(`[data-testid="provider-row-${id}"]`).getBoundingClientRect().height), [LONG_ID, MOVED_ID]);
  log(`row heights: ${JSON.stringify(rows)}`);
  assert.ok(rows[0] > rows[1] + 60, `the long name wraps its row onto several lines: ${rows}`);

  log(`ArrowUp: the moved handle would land under the sticky header`);
  await handle.focus();
  const header = (await focused()).headerBottom;
  await scrollFocusedTo(header + 20);
  let before = await handleInView(`Reorder ${MOVED}`, 'before ArrowUp');
  assert.ok(Math.abs(before.top - (header + 20)) < 1.5, `placed below the header: ${JSON.stringify(before)}`);
  let moved = await moveByKey('ArrowUp', [MOVED_ID, LONG_ID, ...Object.keys(NAMES).slice(2)]);
  // Scrolled the least distance: its top just below the header (and the scroll padding).
  assert.ok(Math.abs(moved.top - (moved.headerBottom + PADDING)) <= 1.5, `the least distance up: ${JSON.stringify(moved)}`);

  log(`ArrowDown: the moved handle would land below the window's bottom edge`);
  await scrollFocusedTo(VIEWPORT.height - 10 - 28);
  before = await handleInView(`Reorder ${MOVED}`, 'before ArrowDown');
  assert.ok(before.bottom > VIEWPORT.height - 20, `placed near the bottom edge: ${JSON.stringify(before)}`);
  moved = await moveByKey('ArrowDown', Object.keys(NAMES));
  assert.ok(Math.abs(moved.bottom - VIEWPORT.height) <= 1.5, `the least distance down: ${JSON.stringify(moved)}`);

  log('every provider deleted: the Events filter on one of them says it is gone');
  const events = page.getByRole('region', { name: 'Events' });
  await events.getByLabel('Provider').selectOption(MOVED_ID);
  assert.equal(await events.getByTestId('events-provider-gone').count(), 0);
  for (const provider of Object.keys(NAMES)) await api('delete_provider', { provider });
  assert.deepEqual((await api('get_config')).provider_order, []);
  await page.getByTestId(`provider-row-${MOVED_ID}`).waitFor({ state: 'detached' });
  await textMatches(events.getByTestId('events-provider-gone'), new RegExp(`^No provider has the id ${MOVED_ID} now`));
  assert.equal(await events.getByLabel('Provider').inputValue(), MOVED_ID);

  log('… and so does the Requests filter, for that id and for one no provider ever had');
  for (const id of [MOVED_ID, 'ghost']) {
    await page.goto(`${GATEWAY}#/requests?provider=${id}`);
    await page.getByRole('heading', { name: 'Requests', exact: true }).waitFor();
    const filter = page.getByRole('search', { name: 'Filter requests' }).getByLabel('Provider');
    await until(`the ${id} filter marked "(not configured)"`, async () =>
      (await filter.evaluate((s) => s.selectedOptions[0]?.textContent)) === `${id} (not configured)`);
    await textMatches(page.getByTestId('requests-provider-gone'), new RegExp(`^No provider has the id ${id} now`));
  }

  assert.deepEqual(pageErrors, []);
  log('PASS');
} catch (e) {
  await page.screenshot({ path: `${env('E2E_ARTIFACTS')}/keyboard-reorder-failure.png` }).catch(() => {});
  log(`FAIL: ${e instanceof Error ? e.stack : e}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
