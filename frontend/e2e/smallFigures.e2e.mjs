// The Usage page with small and large figures (started by tests/browser/test_usage_e2e.py, which seeded
// requests of a few milliseconds each — 1.5 to 3 ms — and one whose output count has nine digits):
// the latency axis names each gridline differently, and a nine-digit token total stays on one line.
//
//   E2E_GATEWAY   http://127.0.0.1:<port>/     E2E_TOKEN   the gateway token     E2E_WIDTH   window width in px

import assert from 'node:assert/strict';
import { log, onUsagePage, textMatches, until } from './lib.mjs';

await onUsagePage(async ({ page }) => {
  log('latency axis: one label per gridline, none repeated');
  // The value axis's labels (the provider names under the bars are the other axis's).
  const ticks = page.getByTestId('usage-chart-latency').locator('.recharts-cartesian-axis-tick-label text');
  const labels = await until('the latency axis labels', async () => {
    const found = (await ticks.allTextContents()).filter((t) => / m?s$/.test(t));
    return found.length >= 3 ? found : null;
  });
  assert.equal(new Set(labels).size, labels.length, `repeated latency labels: ${labels.join(', ')}`);

  log('a nine-digit token total reads k/M/B/T, on one line, the exact figure in its tooltip');
  const output = page.getByTestId('usage-overall-output-tokens');
  await textMatches(output, /^123M$/);
  assert.equal(await output.locator('..').getAttribute('title'), '123,456,789 tokens');
  const lines = await output.evaluate((el) => Math.round(el.getBoundingClientRect().height / parseFloat(getComputedStyle(el).lineHeight)));
  assert.equal(lines, 1, 'the output-token total wraps');
});
