// The Usage page end to end (started by tests/browser/test_usage_e2e.py once per window width, which
// seeded the app with four requests of session s-e2e — the last one failed over from p1 (Relay One)
// to p2 (Relay Two) — and quota readings p1 = 5,000 available, p2 = 0 available).
//
//   E2E_GATEWAY   http://127.0.0.1:<port>/     E2E_TOKEN   the gateway token
//   E2E_WIDTH     window width in px           E2E_SCHEME  light | dark
//   E2E_ARTIFACTS folder for screenshots

import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  assertEnterKeepsFocus,
  assertNoClippedHeaders,
  assertNoClippedText,
  assertNoHorizontalScroll,
  calm,
  controlApi,
  elapsed,
  env,
  esc,
  launchBrowser,
  log,
  runViewport,
  screenshots,
  signedInPage,
  textMatches,
  until,
  watchdog,
} from './lib.mjs';

const GATEWAY = env('E2E_GATEWAY').replace(/\/?$/, '/');
const TOKEN = env('E2E_TOKEN');
const ARTIFACTS = env('E2E_ARTIFACTS');
const { viewport: VIEWPORT, scheme: SCHEME } = runViewport();
watchdog(60_000);

const browser = await launchBrowser();
const { page, pageErrors } = await signedInPage(browser, TOKEN, { viewport: VIEWPORT, colorScheme: SCHEME });

const cell = (row, col) => page.getByTestId(row).locator(`[data-col="${col}"]`);

try {
  log(`dashboard at ${VIEWPORT.width} px: quota shows the readings; Relay Two is marked exhausted`);
  await page.goto(GATEWAY);
  await textMatches(page.getByTestId('quota-p1'), /5k quota/);
  await textMatches(page.getByTestId('quota-p2'), /0 quota/);
  await page.getByTestId('quota-exhausted-p2').waitFor();
  await assertNoHorizontalScroll(page, 'on the dashboard');

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
  // Every label whole (it once read "Reasoning tok…" between 1000 and 1400 px).
  await textMatches(page.getByRole('term').filter({ hasText: 'Reasoning' }), /^Reasoning tokens$/);
  await assertNoClippedText(page, '.totals dt, .totals dd', `in the Usage totals at ${VIEWPORT.width} px`);

  log('usage page: Enter on "Refresh analytics" reads them again and keeps the focus on it');
  const refresh = page.getByRole('button', { name: 'Refresh analytics' });
  let answered = false;
  void page.waitForResponse((r) => r.url().endsWith('/api/get_analytics'), { timeout: 8_000 }).then(() => { answered = true; }, () => {});
  await assertEnterKeepsFocus(refresh, async () => answered && !(await refresh.isDisabled()), 'Refresh analytics');

  log('usage page: per provider (by name), a failover counts against Relay One and for Relay Two');
  await textMatches(page.getByTestId('usage-provider-row-p1').locator('th'), /^Relay One$/);
  await textMatches(cell('usage-provider-row-p1', 'requests'), /^4$/);
  await textMatches(cell('usage-provider-row-p1', 'errors'), /^1$/);
  await textMatches(cell('usage-provider-row-p1', 'total_tokens'), /^45$/);
  await textMatches(cell('usage-provider-row-p2', 'requests'), /^1$/);
  await textMatches(cell('usage-provider-row-p2', 'errors'), /^0$/);
  await textMatches(cell('usage-provider-row-p2', 'total_tokens'), /^15$/);
  await textMatches(page.getByTestId('counting-note-usage'), /counts attempts/);
  // Twelve columns, latencies in seconds: inside their card at every width (no scrollbar hiding the last).
  const byProvider = page.getByRole('table', { name: 'Usage by provider' });
  const overflow = await byProvider.evaluate((t) => t.parentElement.scrollWidth - t.parentElement.clientWidth);
  assert.ok(overflow <= 1, `the by-provider table is ${overflow} px wider than its card at ${VIEWPORT.width} px`);
  await textMatches(page.getByTestId('usage-provider-row-p1'), /\d(\.\d+)? s\b/, 'a latency in seconds');

  log('usage page: the charts are drawn, legends by name');
  await until('token bars', async () =>
    (await page.getByTestId('usage-chart-tokens').locator('svg .recharts-bar-rectangle').count()) > 0);
  await until('request lines', async () =>
    (await page.getByTestId('usage-chart-requests').locator('svg .recharts-line').count()) > 0);
  await until('latency bars', async () =>
    (await page.getByTestId('usage-chart-latency').locator('svg .recharts-bar-rectangle').count()) > 0);
  await textMatches(page.getByTestId('usage-chart-tokens').locator('.recharts-legend-wrapper'), /Relay One[\s\S]*Relay Two/);

  log('usage page: other windows hold the same four requests');
  for (const name of ['Last hour', 'Last 30 days']) {
    await page.getByRole('button', { name }).click();
    await textMatches(page.getByTestId('usage-overall-requests'), /^4$/, `${name}: 4 requests`);
  }

  log('session timeline: column headers; the fourth turn failed over from Relay One to Relay Two');
  await page.getByTestId('session-row-s-e2e').click();
  const fourth = page.getByTestId('timeline-entry-4');
  await fourth.waitFor();
  assert.equal(await fourth.getAttribute('data-provider'), 'p2');
  assert.equal(await fourth.getAttribute('data-failover'), 'true');
  assert.equal(await fourth.getAttribute('data-switched'), 'true');
  await textMatches(fourth, /switched from Relay One/);
  await textMatches(fourth, /bad gateway/);
  assert.equal(await page.getByTestId('timeline-entry-1').getAttribute('data-provider'), 'p1');
  const head = await page.locator('.tl__head').innerText();
  for (const col of ['Time', 'Provider', 'Model', 'Status', 'Latency', 'TTFB', 'Tokens']) assert.match(head, new RegExp(col, 'i'));
  // A table to the browser: column headers, and one row per turn under them.
  const table = page.getByRole('table', { name: /^Requests of session / });
  for (const col of ['Time', 'Provider', 'Model', 'Status', 'Latency', 'TTFB', 'Tokens']) {
    await table.getByRole('columnheader', { name: col, exact: true }).waitFor();
  }
  await textMatches(table.getByRole('row').filter({ hasText: '#4' }).first(), /Relay Two/);
  await assertNoClippedText(page, '[role="columnheader"]', `in the session timeline at ${VIEWPORT.width} px`);
  // A long provider name and the models wrap rather than lose their end, in the timeline and the list.
  await assertNoClippedText(page, '.tl__provider, .tl__model, .session__line > *',
                            `in the sessions at ${VIEWPORT.width} px`);
  await textMatches(fourth, /Azure East US production deployment/);
  // Each row's cells stand under their headers, the failover row's long marks notwithstanding.
  const lefts = await table.evaluate((t) =>
    [...t.querySelectorAll('[role="row"]')]
      .map((r) => [...r.querySelectorAll(':scope > [role="columnheader"], :scope > [role="cell"]')])
      .filter((cells) => cells.length === 9)
      .map((cells) => cells.map((c) => Math.round(c.getBoundingClientRect().left))));
  assert.ok(lefts.length >= 5, `a header row and four request rows: ${JSON.stringify(lefts)}`);
  for (const row of lefts.slice(1)) {
    row.forEach((x, i) => assert.ok(Math.abs(x - lefts[0][i]) <= 1, `column ${i + 1} under its header: ${JSON.stringify(lefts)}`));
  }
  assert.match(page.url(), /#\/usage\?session=s-e2e$/, 'the picked session is in the address');

  await calm(page);
  await assertNoClippedHeaders(page, `on the Usage page at ${VIEWPORT.width} px`);
  await screenshots(page, ARTIFACTS, 'usage');

  log('60-character provider names: each latency tick fits its slot, the whole name in its title');
  const LONG = {
    p1: 'Relay One, Azure OpenAI East US 2 production deployment #001',
    p2: 'Relay Two, Azure OpenAI West Europe production backup #00002',
  };
  const api = controlApi(GATEWAY, TOKEN);
  for (const [id, name] of Object.entries(LONG)) {
    assert.equal(name.length, 60);
    await api('upsert_provider', { provider: id, display_name: name });
    await textMatches(page.getByTestId(`usage-provider-row-${id}`).locator('th'), new RegExp(`^${esc(name)}$`), `${id} renamed`);
  }
  const chart = page.getByTestId('usage-chart-latency').locator('svg[role="application"]');
  await chart.scrollIntoViewIfNeeded();
  const axis = await chart.evaluate((svg) => {
    const box = svg.getBoundingClientRect();
    const line = svg.querySelector('.recharts-xAxis .recharts-cartesian-axis-line')?.getBoundingClientRect();
    const labels = [...svg.querySelectorAll('.recharts-xAxis-tick-labels .recharts-cartesian-axis-tick-label')].map((g) => {
      const r = g.querySelector('text').getBoundingClientRect();
      return { shown: g.querySelector('text').textContent, title: g.querySelector('title')?.textContent ?? null,
               left: r.left, right: r.right, top: r.top, bottom: r.bottom };
    });
    return { left: box.left, right: box.right, axisWidth: line ? line.width : box.width, labels };
  });
  log(`  ticks in ${Math.round(axis.axisWidth)} px: ${axis.labels.map((l) => `"${l.shown}"`).join(', ')}`);
  assert.equal(axis.labels.length, 2, `a tick per provider at ${VIEWPORT.width} px: ${JSON.stringify(axis)}`);
  const slot = axis.axisWidth / axis.labels.length;
  const wrong = [];
  for (const l of axis.labels) {
    const px = Math.round(l.right - l.left);
    if (!Object.values(LONG).includes(l.title)) wrong.push(`"${l.shown}" has no title with the whole name (${l.title})`);
    else if (!l.title.startsWith(l.shown.replace(/…$/, '').trimEnd())) wrong.push(`"${l.shown}" is not the start of "${l.title}"`);
    if (l.left < axis.left - 0.5 || l.right > axis.right + 0.5) wrong.push(`"${l.shown}" runs past the chart (${Math.round(l.left)}–${Math.round(l.right)} in ${Math.round(axis.left)}–${Math.round(axis.right)})`);
    if (px > slot) wrong.push(`"${l.shown}" is ${px} px wide in a ${Math.round(slot)} px slot`);
  }
  const [a, b] = [...axis.labels].sort((x, y) => x.left - y.left);
  if (a.right > b.left + 0.5 && a.top < b.bottom && b.top < a.bottom) wrong.push(`"${a.shown}" overlaps "${b.shown}"`);
  assert.deepEqual(wrong, [], `latency ticks at ${VIEWPORT.width} px`);
  await assertNoHorizontalScroll(page, `with 60-character names at ${VIEWPORT.width} px`);

  log('a 173-character name without spaces: every chart tooltip stays in the window, whole, and never widens the page');
  const HUGE = `RelayTwo-AzureOpenAI-WestEurope-production-backup-deployment-${'x'.repeat(200)}`.slice(0, 173);
  assert.equal(HUGE.length, 173);
  await api('upsert_provider', { provider: 'p2', display_name: HUGE });
  await textMatches(page.getByTestId('usage-provider-row-p2').locator('th'), new RegExp(`^${esc(HUGE)}$`), 'p2 renamed');
  const tipProblems = [];
  for (const testId of ['usage-chart-tokens', 'usage-chart-requests', 'usage-chart-latency']) {
    const frame = page.getByTestId(testId);
    const svg = frame.locator('svg[role="application"]');
    await svg.scrollIntoViewIfNeeded();
    const box = await svg.boundingBox();
    assert.ok(box, `${testId} is drawn`);
    // Left to right across the plot, then back: the tooltip flips sides and slides between categories.
    const xs = [0.12, 0.3, 0.5, 0.7, 0.88, 0.97, 0.5, 0.15].map((f) => box.x + box.width * f);
    let sawName = false;
    for (const x of xs) {
      await page.mouse.move(x, box.y + box.height * 0.45, { steps: 3 });
      // Every frame for 600 ms (longer than the tooltip's slide): the page's width and the tooltip's box.
      const seen = await frame.evaluate(async (fig, ms) => {
        const out = { scroll: 0, inner: innerWidth, shown: 0, text: '', bad: [] };
        const wrap = fig.querySelector('.recharts-wrapper').getBoundingClientRect();
        const end = performance.now() + ms;
        while (performance.now() < end) {
          out.scroll = Math.max(out.scroll, document.documentElement.scrollWidth);
          const tip = fig.querySelector('.recharts-tooltip-wrapper');
          if (tip && getComputedStyle(tip).visibility !== 'hidden' && tip.textContent) {
            const r = tip.getBoundingClientRect();
            const content = tip.firstElementChild;
            out.shown += 1;
            if (tip.textContent.length > out.text.length) out.text = tip.textContent;
            if (r.left < -0.5 || r.right > innerWidth + 0.5) out.bad.push(`spans ${Math.round(r.left)}..${Math.round(r.right)} in a ${innerWidth} px window`);
            else if (r.left < wrap.left - 0.5 || r.right > wrap.right + 0.5) out.bad.push(`spans ${Math.round(r.left)}..${Math.round(r.right)}, past its chart ${Math.round(wrap.left)}..${Math.round(wrap.right)}`);
            if (content && content.scrollWidth > content.clientWidth + 1) out.bad.push(`its text is cut (${content.scrollWidth} px in ${content.clientWidth})`);
          }
          await new Promise((r) => requestAnimationFrame(r));
        }
        return out;
      }, 600);
      if (seen.scroll > seen.inner) tipProblems.push(`${testId} at x=${Math.round(x)}: page scrollWidth ${seen.scroll} > ${seen.inner}`);
      for (const b of [...new Set(seen.bad)]) tipProblems.push(`${testId} at x=${Math.round(x)}: the tooltip ${b}`);
      if (seen.shown === 0) tipProblems.push(`${testId} at x=${Math.round(x)}: no tooltip shown`);
      if (seen.text.includes(HUGE)) sawName = true;
    }
    if (!sawName) tipProblems.push(`${testId}: no tooltip held the whole 173-character name`);
    await page.mouse.move(2, 2);
  }
  assert.deepEqual(tipProblems, [], `chart tooltips at ${VIEWPORT.width} px`);
  await assertNoHorizontalScroll(page, `after hovering the charts at ${VIEWPORT.width} px`);
  assert.deepEqual(pageErrors, [], 'uncaught errors in the page');
  log(`PASS in ${elapsed()} s at ${VIEWPORT.width} px`);
} catch (e) {
  log(`FAIL: ${e instanceof Error ? e.stack : e}`);
  await page.screenshot({ path: join(ARTIFACTS, `usage-${VIEWPORT.width}-failure.png`), fullPage: true }).catch(() => {});
  process.exitCode = 1;
} finally {
  await browser.close().catch(() => {});
}
