// Shared pieces of the browser end-to-end scripts: env, logging, bounded waits, the browser.

import { chromium } from 'playwright-core';

export const STEP_MS = 8_000;
export const VIEWPORT = { width: 1320, height: 720 };
const t0 = Date.now();

export function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (run this through its pytest test in tests/browser/)`);
  return v;
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
