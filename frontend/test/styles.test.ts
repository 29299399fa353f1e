// What jsdom cannot lay out, checked in the stylesheet (the browser tests measure it too:
// frontend/e2e/usage.e2e.mjs at 720, 1000 and 1400 px).

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

// Read from disk: Vitest hands CSS imports (?raw included) over empty. file:///C:/… is C:/… on Windows.
const here = decodeURIComponent(import.meta.url.replace(/^file:\/\/(\/(?=[A-Za-z]:))?/, ''));
const css = readFileSync(here.replace(/\/test\/[^/]+$/, '/src/styles.css'), 'utf8');

/** The declarations of the first rule whose selector is exactly `selector`. */
function rule(selector: string): string {
  const at = css.search(new RegExp(`(^|\\n|\\})\\s*${selector.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*\\{`));
  expect(at, `a rule for ${selector}`).toBeGreaterThanOrEqual(0);
  const open = css.indexOf('{', at);
  return css.slice(open + 1, css.indexOf('}', open));
}

describe('the Usage totals never clip a label', () => {
  it('the cards share the row (auto-fit), instead of staying at their minimum beside empty tracks', () => {
    expect(rule('.totals')).toMatch(/grid-template-columns:\s*repeat\(auto-fit,/);
  });

  it.each(['.total dt', '.total dd'])('%s wraps instead of cutting off with an ellipsis', (selector) => {
    const body = rule(selector);
    expect(body).not.toMatch(/text-overflow:\s*ellipsis/);
    expect(body).not.toMatch(/white-space:\s*nowrap/);
    expect(body).not.toMatch(/overflow:\s*hidden/);
    expect(body).toMatch(/overflow-wrap:\s*break-word/);
  });
});

describe('a provider test or probe strip never runs past its edge', () => {
  it('cuts its title with an ellipsis inside the strip', () => {
    const body = rule('.probe__title');
    expect(body).toMatch(/text-overflow:\s*ellipsis/);
    expect(body).toMatch(/max-width:\s*100%/);
    expect(body).toMatch(/overflow:\s*hidden/);
  });
});

describe('an opened request never widens the requests table', () => {
  it('its detail counts as no width when the columns are sized, then fills the cell', () => {
    const body = rule('.reqd');
    expect(body).toMatch(/(^|[;\s])width:\s*0;/);
    expect(body).toMatch(/min-width:\s*100%/);
    expect(css).toMatch(/\n\.chain td \{\s*overflow-wrap:\s*anywhere/);
  });
});

describe('long names and model ids without spaces wrap where they are shown whole', () => {
  it.each(['.probe', '.toast__text', '.prow__meta code'])('%s wraps anywhere', (selector) => {
    expect(rule(selector)).toMatch(/overflow-wrap:\s*anywhere/);
  });
});

describe('a provider row’s base URL: scheme, host and port always whole, only the path cut', () => {
  const cut = /line-clamp|text-overflow:\s*ellipsis|overflow:\s*hidden|white-space:\s*nowrap/;
  it('the cell clamps nothing itself', () => {
    expect(rule('.prow__url')).not.toMatch(cut);
  });
  it('scheme, host and port wrap, never clamped or cut', () => {
    const body = rule('.prow__origin');
    expect(body).not.toMatch(cut);
    expect(body).toMatch(/overflow-wrap:\s*anywhere/);
  });
  it('the path is cut with "…" on one line, never wider than the cell', () => {
    const body = rule('.prow__path');
    expect(body).toMatch(/text-overflow:\s*ellipsis/);
    expect(body).toMatch(/overflow:\s*hidden/);
    expect(body).toMatch(/white-space:\s*nowrap/);
    expect(body).toMatch(/max-width:\s*100%/);
  });
});

describe('the dashboard stays one screen at 1320×720 with four providers', () => {
  it('caps the Lock and Preferred drop-downs so both stay on one row of the Routing card at 1320 px', () => {
    // The card's content is 758 px wide there; the labels take about 220 px and the gaps 34 px.
    // A plain length: a percentage (min(100%, …)) is ignored when the row's width is worked out.
    const cap = /max-width:\s*(\d+)px;/.exec(rule('.inline-field select'));
    expect(cap).not.toBeNull();
    expect(Number(cap![1])).toBeLessThanOrEqual(250);
  });

  it('keeps a provider’s last error to one line, cut with an ellipsis, without widening its column', () => {
    const body = rule('.line1');
    expect(body).toMatch(/white-space:\s*nowrap/);
    expect(body).toMatch(/text-overflow:\s*ellipsis/);
    expect(body).toMatch(/overflow:\s*hidden/);
    expect(body).toMatch(/(^|[;\s])width:\s*0;/);
    expect(body).toMatch(/min-width:\s*100%/);
  });
});
