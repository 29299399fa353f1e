// Shared pieces of the browser end-to-end scripts: env, logging, bounded waits, the browser, layout checks.

import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { join } from 'node:path';

export const STEP_MS = 8_000;
/** The window size the desktop app opens with. */
export const DEFAULT_VIEWPORT = { width: 1180, height: 800 };
const t0 = Date.now();

export function env(name, fallback) {
  const v = process.env[name];
  if (!v) {
    if (fallback !== undefined) return fallback;
    throw new Error(`${name} is not set (run this through its pytest test in tests/browser/)`);
  }
  return v;
}

/** E2E_WIDTH (px) and E2E_SCHEME (light|dark): the run's window width and colour scheme. */
export function runViewport() {
  const width = Number(env('E2E_WIDTH', '1180'));
  const scheme = env('E2E_SCHEME', 'light');
  if (!Number.isInteger(width) || width < 320) throw new Error(`E2E_WIDTH must be a width in px, got ${width}`);
  if (scheme !== 'light' && scheme !== 'dark') throw new Error(`E2E_SCHEME must be light or dark, got ${scheme}`);
  return { viewport: { width, height: 800 }, scheme };
}

export const log = (msg) => console.log(`[e2e ${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${msg}`);
export const elapsed = () => ((Date.now() - t0) / 1000).toFixed(1);

/** Ends the run with exit 3 if it takes longer than `ms` in all. */
export function watchdog(ms) {
  const timer = setTimeout(() => {
    log(`FAIL: the whole run took longer than ${ms / 1000} s`);
    process.exit(3);
  }, ms);
  timer.unref();
}

/** Polls `probe` until it returns a truthy value; fails after `timeout` with the last value seen. */
export async function until(what, probe, timeout = STEP_MS) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v;
      last = v;
    } catch (e) {
      last = e instanceof Error ? e.message.split('\n')[0] : e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what} (last: ${JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits until the (single) element's visible text matches `re`; returns the text. */
export async function textMatches(locator, re, what = String(re)) {
  let last = '';
  await until(what, async () => {
    last = (await locator.innerText({ timeout: 1_000 })).trim();
    return re.test(last);
  }).catch((e) => {
    throw new Error(`${e.message}; text was ${JSON.stringify(last)}`);
  });
  return last;
}

export const esc = (s) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** Debian's chromium with the flags this machine needs (no downloads, no background traffic). */
export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.API_ROUTER_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    timeout: 20_000,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
  });
}

/**
 * A page whose browser session already holds the gateway token, as after the first visit, with its page
 * errors collected.
 */
export async function signedInPage(browser, token, contextOptions = {}) {
  const context = await browser.newContext(contextOptions);
  await context.addInitScript((t) => sessionStorage.setItem('api-router.gateway-token', t), token);
  const page = await context.newPage();
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  return { context, page, pageErrors };
}

/**
 * Runs ``check({ page, viewport })`` on the Usage page of E2E_GATEWAY, signed in with E2E_TOKEN, in a window
 * E2E_WIDTH wide (within ``ms``); prints PASS when it returns and the page threw nothing.
 */
export async function onUsagePage(check, ms = 45_000) {
  const gateway = env('E2E_GATEWAY').replace(/\/?$/, '/');
  const { viewport } = runViewport();
  watchdog(ms);
  const browser = await launchBrowser();
  const { page, pageErrors } = await signedInPage(browser, env('E2E_TOKEN'), { viewport });
  try {
    await page.goto(`${gateway}#/usage`);
    await check({ page, viewport });
    assert.deepEqual(pageErrors, []);
    console.log('PASS');
  } finally {
    await browser.close();
  }
}

/** ``api(method, args)``: a control call to the gateway at ``gateway`` (ending in /), its result or an Error. */
export function controlApi(gateway, token) {
  return async function api(method, args = {}) {
    const res = await fetch(`${gateway}api/${method}`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(args),
      signal: AbortSignal.timeout(10_000),
    });
    const body = await res.json();
    if (!res.ok) throw new Error(`${method}: HTTP ${res.status} ${JSON.stringify(body)}`);
    return body;
  };
}

/** The page is never wider than the window (no horizontal page scroll). */
export async function assertNoHorizontalScroll(page, where) {
  const m = await page.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, innerWidth }));
  if (m.scrollWidth > m.innerWidth) {
    const wide = await page.evaluate(() => {
      const out = [];
      for (const el of document.querySelectorAll('body *')) {
        const r = el.getBoundingClientRect();
        if (r.right > innerWidth + 0.5 && r.width > 0) out.push(`${el.tagName.toLowerCase()}.${el.className} ${Math.round(r.right)}`);
        if (out.length > 8) break;
      }
      return out;
    });
    throw new Error(`horizontal page scroll ${where}: scrollWidth ${m.scrollWidth} > innerWidth ${m.innerWidth}; wide: ${wide.join(', ')}`);
  }
}

/** Every visible drop-down is wide enough for its longest option (a provider's display name is never
 * cut short when chosen): the text measured in the select's own font against its width inside the
 * padding, less room for the arrow. */
export async function assertSelectsShowTheirOptions(page, where) {
  const cut = await page.evaluate(() => {
    const ctx = document.createElement('canvas').getContext('2d');
    const out = [];
    for (const sel of document.querySelectorAll('select')) {
      if (sel.getClientRects().length === 0) continue;
      const cs = getComputedStyle(sel);
      ctx.font = `${cs.fontStyle} ${cs.fontWeight} ${cs.fontSize} ${cs.fontFamily}`;
      const room = sel.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight) - 16;
      for (const o of sel.options) {
        const w = ctx.measureText(o.text).width;
        if (w > room + 1) out.push(`${sel.id || sel.name || 'select'}: "${o.text}" needs ${Math.ceil(w)} px, has ${Math.floor(room)}`);
      }
    }
    return out;
  });
  if (cut.length) throw new Error(`drop-down options cut short ${where}: ${cut.join('; ')}`);
}

/** Every header cell shows its whole text (no "Last (" clipping). */
export async function assertNoClippedHeaders(page, where) {
  const clipped = await page.evaluate(() =>
    [...document.querySelectorAll('th')]
      .filter((th) => th.getClientRects().length > 0 && th.scrollWidth > th.clientWidth + 1)
      .map((th) => th.textContent.trim()),
  );
  if (clipped.length) throw new Error(`clipped table headers ${where}: ${JSON.stringify(clipped)}`);
}

/** No element matching `selector` (visible) has text cut off: wider than its box, or taller. */
export async function assertNoClippedText(page, selector, where) {
  const clipped = await page.evaluate((sel) =>
    [...document.querySelectorAll(sel)]
      .filter((el) => el.getClientRects().length > 0 && (el.scrollWidth > el.clientWidth + 1 || el.scrollHeight > el.clientHeight + 1))
      .map((el) => el.textContent.trim()),
  selector);
  if (clipped.length) throw new Error(`clipped text (${selector}) ${where}: ${JSON.stringify(clipped)}`);
}

/** The element shows all its width: nothing inside it scrolls sideways (a table wider than its box). */
export async function assertFitsWidth(locator, what) {
  const m = await locator.evaluate((el) => ({ scrollWidth: el.scrollWidth, clientWidth: el.clientWidth }));
  if (m.scrollWidth > m.clientWidth + 1) {
    throw new Error(`${what} is wider than its box: scrollWidth ${m.scrollWidth} > clientWidth ${m.clientWidth}`);
  }
}

/** The element is inside the window horizontally (reachable without scrolling sideways). */
export async function assertReachable(locator, what) {
  await locator.waitFor({ state: 'visible', timeout: STEP_MS });
  const box = await locator.boundingBox();
  const width = await locator.page().evaluate(() => innerWidth);
  if (!box || box.x < 0 || box.x + box.width > width + 0.5) {
    throw new Error(`${what} is not reachable: ${JSON.stringify(box)} in a window ${width} px wide`);
  }
}

/** A calm frame for screenshots: no notifications, no focus ring, no hover. */
export async function calm(page) {
  const dismiss = page.getByRole('button', { name: /^Dismiss: / });
  for (let i = 0; i < 10 && (await dismiss.count()) > 0; i++) await dismiss.first().click();
  const size = page.viewportSize();
  await page.mouse.move(size.width - 2, size.height - 2);
  await page.evaluate(() => {
    if (document.activeElement instanceof HTMLElement) document.activeElement.blur();
    window.scrollTo(0, 0); // a sticky header over scrolled content would spoil a full-page picture
  });
}

/** Screenshots of the page in both colour schemes, each checked for horizontal scroll. */
export async function screenshots(page, dir, name) {
  const size = page.viewportSize();
  for (const scheme of ['light', 'dark']) {
    await page.emulateMedia({ colorScheme: scheme });
    await until(`${scheme} colours`, () => page.evaluate((s) => matchMedia(`(prefers-color-scheme: ${s})`).matches, scheme));
    const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    if ((bg === 'rgb(15, 17, 21)') !== (scheme === 'dark')) throw new Error(`${scheme} background is ${bg}`);
    await assertNoHorizontalScroll(page, `(${name}, ${size.width} px, ${scheme})`);
    await page.screenshot({ path: join(dir, `${name}-${size.width}-${scheme}.png`), fullPage: true });
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Focuses `button`, presses Enter, and checks the keyboard focus stays on it: 50 ms and 300 ms after the
 * press, once `done()` says the action it started has finished, and 300 ms after that. A button that
 * its own click leaves busy or with nothing to do must not become a disabled element (Chromium then
 * drops the focus to <body>, outside the dialog for a dialog's button).
 */
export async function assertEnterKeepsFocus(button, done, what) {
  const page = button.page();
  await button.focus();
  const handle = await button.elementHandle();
  const check = async (when) => {
    const where = await handle.evaluate((el) => {
      const a = document.activeElement;
      if (a === el) return null;
      if (!a || a === document.body) return '<body>';
      return `<${a.tagName.toLowerCase()}> ${(a.getAttribute('aria-label') ?? a.textContent ?? '').trim().slice(0, 40)}`;
    });
    if (where !== null) throw new Error(`focus left "${what}" ${when}: it is on ${where}`);
  };
  const pressed = Date.now();
  await page.keyboard.press('Enter');
  for (const ms of [50, 300]) {
    await sleep(Math.max(0, pressed + ms - Date.now()));
    await check(`${ms} ms after Enter`);
  }
  await until(`"${what}" to finish`, done);
  await check('once it finished');
  await sleep(300);
  await check('300 ms after it finished');
  await handle.dispose();
}

/**
 * From the last control of the page, Shift+Tab through every control up to the sticky header: each
 * one focused must show below the header (its top at or below the header's bottom), never under it.
 * Returns how many controls were visited.
 */
export async function assertShiftTabClearsHeader(page, where) {
  await page.evaluate(() => {
    const all = [...document.querySelectorAll('a[href], button, input, select, textarea, [tabindex]')].filter(
      (el) => el.tabIndex >= 0 && !el.disabled && el.getClientRects().length > 0,
    );
    all[all.length - 1]?.focus();
  });
  const under = [];
  const seen = new Set();
  let visited = 0;
  for (let i = 0; i < 500; i++) {
    if (i > 0) await page.keyboard.press('Shift+Tab');
    const f = await page.evaluate(() => {
      const el = document.activeElement;
      const header = document.querySelector('.topbar');
      if (!el || el === document.body || !header) return null;
      if (!el.dataset.e2eTab) el.dataset.e2eTab = String(Math.random()).slice(2);
      const box = el.getBoundingClientRect();
      const label = (el.getAttribute('aria-label') || el.labels?.[0]?.textContent || el.textContent || el.tagName).trim().slice(0, 40);
      return { id: el.dataset.e2eTab, label, top: box.top, inHeader: header.contains(el), headerBottom: header.getBoundingClientRect().bottom };
    });
    if (!f || f.inHeader || seen.has(f.id)) break;
    seen.add(f.id);
    visited += 1;
    if (f.top < f.headerBottom - 0.5) under.push(`"${f.label}" at top ${Math.round(f.top)} under the header ending at ${Math.round(f.headerBottom)}`);
  }
  await page.evaluate(() => document.querySelectorAll('[data-e2e-tab]').forEach((el) => delete el.dataset.e2eTab));
  if (under.length) throw new Error(`Shift+Tab ${where} puts focus under the sticky header: ${under.join('; ')}`);
  if (visited < 10) throw new Error(`Shift+Tab ${where} visited only ${visited} controls`);
  return visited;
}
