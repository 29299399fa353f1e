// The Usage page's by-provider table with a month of a busy log's figures (started by
// tests/browser/test_usage_e2e.py, which seeded token counts of eleven digits and latencies in seconds):
// every column inside its card — beside the latency chart on a wide window, under it on a narrower one.
//
//   E2E_GATEWAY   http://127.0.0.1:<port>/     E2E_TOKEN   the gateway token     E2E_WIDTH   window width in px

import assert from 'node:assert/strict';
import { log, onUsagePage, textMatches } from './lib.mjs';

await onUsagePage(async ({ page, viewport }) => {
  await page.getByRole('button', { name: 'Last 30 days' }).click();
  const table = page.getByRole('table', { name: 'Usage by provider' });
  await textMatches(page.getByTestId('usage-provider-row-p1'), /47,516,655,310/, 'an eleven-digit token count');
  log(`the by-provider table at ${viewport.width} px: every column inside its card`);
  const { overflow, beside } = await table.evaluate((t) => {
    const card = t.closest('.card');
    const chart = document.querySelector('[data-testid="usage-chart-latency"]');
    return {
      overflow: t.parentElement.scrollWidth - t.parentElement.clientWidth,
      beside: chart.getBoundingClientRect().top < card.getBoundingClientRect().bottom,
    };
  });
  assert.ok(overflow <= 1, `the by-provider table is ${overflow} px wider than its card at ${viewport.width} px`);
  assert.equal(beside, viewport.width >= 1600, `the latency chart ${beside ? 'beside' : 'under'} the table`);
});
