import { describe, expect, it } from 'vitest';
import { NOW, makeQuotaEntry, makeSnapshot, seededQuota } from '../../test/fakeUsage';
import {
  formatAmount,
  formatPercent,
  formatQuantity,
  isUsageAdapter,
  ledgerCell,
  quotaCell,
  refreshOutcome,
  snapshotDetails,
} from './usage';

describe('numbers', () => {
  it.each([
    [12.3, '$12.30'],
    [0, '$0.00'],
    [0.005, '$0.01'],
    [1234.5, '$1,234.50'],
    [12_345, '$12.3k'],
    [2_500_000, '$2.5M'],
    [-1, '-$1.00'],
    [null, '—'],
    [Number.NaN, '—'],
  ])('formatQuantity(%s, USD) = %s', (n, text) => expect(formatQuantity(n, 'USD')).toBe(text));

  it.each([
    [12.345, '12.35'],
    [4200, '4.2k'],
    [999.999, '1000'],
    [7, '7'],
    [null, '—'],
  ])('formatAmount(%s) = %s', (n, text) => expect(formatAmount(n)).toBe(text));

  it('formats percentages with at most one decimal', () => {
    expect(formatPercent(85)).toBe('85%');
    expect(formatPercent(12.345)).toBe('12.3%');
    expect(formatPercent(undefined)).toBe('—');
  });

  it('formats a quantity in its unit', () => {
    expect(formatQuantity(12.3, 'USD')).toBe('$12.30');
    expect(formatQuantity(8, 'CNY')).toBe('¥8.00');
    expect(formatQuantity(4200, 'quota')).toBe('4.2k quota');
    expect(formatQuantity(12.5, '')).toBe('12.5');
    expect(formatQuantity(85, 'quota', { percent: true })).toBe('85%');
  });

  it('shows euros and pounds with their sign', () => {
    expect(formatQuantity(5, 'EUR')).toBe('€5.00');
    expect(formatQuantity(-2.5, 'GBP')).toBe('-£2.50');
    expect(snapshotDetails(makeSnapshot({ remaining: 5, unit: 'EUR' }))).toContainEqual({ label: 'Unit', value: 'euros' });
    expect(snapshotDetails(makeSnapshot({ remaining: 5, unit: 'GBP' }))).toContainEqual({ label: 'Unit', value: 'pounds sterling' });
  });

  it('knows the adapters', () => {
    expect(isUsageAdapter('')).toBe(true);
    expect(isUsageAdapter('new_api')).toBe(true);
    expect(isUsageAdapter('sub2api')).toBe(false);
  });
});

describe('quotaCell', () => {
  it('shows "—" without a reading', () => {
    expect(quotaCell(undefined)).toMatchObject({ text: '—', tone: 'muted', error: null, exhausted: false });
    const failed = quotaCell(makeQuotaEntry({ error: 'HTTP 401', error_at_unix_ms: NOW }));
    expect(failed).toMatchObject({ text: '—', tone: 'bad', error: 'HTTP 401', errorAt: NOW });
    expect(failed.title).toContain('HTTP 401');
  });

  it('shows money left, quota units, percentages and unlimited compactly', () => {
    const q = seededQuota();
    expect(quotaCell(q.p1).text).toBe('$12.30 left');
    expect(quotaCell(q.p1).tone).toBe('ok');
    expect(quotaCell(q.p2).text).toBe('4.2k quota');
    const cny = makeQuotaEntry({ snapshot: makeSnapshot({ remaining: 8, unit: 'CNY' }) });
    expect(quotaCell(cny).text).toBe('¥8.00 left');
    const pct = makeQuotaEntry({ snapshot: makeSnapshot({ remaining: 85, unit: 'quota', percent_fields: ['remaining'] }) });
    expect(quotaCell(pct).text).toBe('85% left');
    const inf = makeQuotaEntry({ snapshot: makeSnapshot({ unlimited: true, remaining: 0 }) });
    expect(quotaCell(inf)).toMatchObject({ text: '∞', tone: 'ok', exhausted: false });
  });

  it('falls back to available, then a budget, then what was used', () => {
    expect(quotaCell(makeQuotaEntry({ snapshot: makeSnapshot({ available: 3.5 }) })).text).toBe('$3.50 left');
    const budget = makeSnapshot({ weekly_spent_usd: 2.5, weekly_budget_usd: 10, daily_budget_usd: 0 });
    expect(quotaCell(makeQuotaEntry({ snapshot: budget })).text).toBe('$7.50 left/wk');
    expect(quotaCell(makeQuotaEntry({ snapshot: makeSnapshot({ today_used: 1.2 }) })).text).toBe('$1.20 used today');
    expect(quotaCell(makeQuotaEntry({ snapshot: makeSnapshot({ used: 3, unit: '' }) })).text).toBe('3 used');
    expect(quotaCell(makeQuotaEntry({ snapshot: makeSnapshot() })).text).toBe('—');
  });

  it('marks an exhausted provider and keeps the last good reading beside a failed check', () => {
    const cell = quotaCell(seededQuota().p3);
    expect(cell).toMatchObject({
      text: '$10.00 of $10.00/day',
      tone: 'bad',
      exhausted: true,
      exhaustedReason: 'daily budget spent: $10.00 of $10.00',
      skipped: true,
      error: 'HTTP 502 from https://three.example.com/api/usage',
      errorAt: NOW - 60_000,
    });
    expect(cell.title).toContain('budget_info (detected)');
    expect(cell.title).toContain('https://three.example.com');
    expect(cell.title).toContain('showing the last good reading');
    expect(cell.title).toContain('Automatic routing skips');
  });

  it('shows an overspent budget as spent of budget, never a negative amount left', () => {
    const cny = makeSnapshot({ daily_spent_usd: 120, daily_budget_usd: 100, budget_unit: 'CNY', exhausted: true });
    expect(quotaCell(makeQuotaEntry({ snapshot: cny }))).toMatchObject({ text: '¥120.00 of ¥100.00/day', tone: 'bad' });
    const usd = makeSnapshot({ daily_spent_usd: 1200, daily_budget_usd: 10 });
    expect(quotaCell(makeQuotaEntry({ snapshot: usd }))).toMatchObject({ text: '$1,200.00 of $10.00/day', tone: 'bad' });
    const spent = makeSnapshot({ weekly_spent_usd: 10, weekly_budget_usd: 10 });
    expect(quotaCell(makeQuotaEntry({ snapshot: spent }))).toMatchObject({ text: '$10.00 of $10.00/wk', tone: 'bad' });
    const left = makeSnapshot({ daily_spent_usd: 99, daily_budget_usd: 100, budget_unit: 'CNY' });
    expect(quotaCell(makeQuotaEntry({ snapshot: left })).text).toBe('¥1.00 left/day');
  });

  it('shows a budget figure written as a percentage as a percentage, not money', () => {
    const both = makeSnapshot({
      daily_spent_usd: 20,
      daily_budget_usd: 100,
      percent_fields: ['daily_spent_usd', 'daily_budget_usd'],
    });
    expect(quotaCell(makeQuotaEntry({ snapshot: both })).text).toBe('80% left/day');
    expect(snapshotDetails(both)).toContainEqual({ label: 'Daily budget', value: '20% of 100% spent' });
    // A percentage and an amount: no difference worked out between them.
    const mixed = makeSnapshot({ daily_spent_usd: 20, daily_budget_usd: 10, percent_fields: ['daily_spent_usd'] });
    expect(quotaCell(makeQuotaEntry({ snapshot: mixed })).text).toBe('20% of $10.00/day');
    expect(snapshotDetails(mixed)).toContainEqual({ label: 'Daily budget', value: '20% of $10.00 spent' });
    const noBudget = makeSnapshot({ monthly_spent_usd: 20, percent_fields: ['monthly_spent_usd'] });
    expect(snapshotDetails(noBudget)).toContainEqual({ label: 'Monthly budget', value: '20% spent (no budget)' });
  });

  it('warns when the latest check failed but the reading is fine', () => {
    const entry = { ...seededQuota().p1, error: 'timeout', error_at_unix_ms: NOW };
    expect(quotaCell(entry)).toMatchObject({ text: '$12.30 left', tone: 'warn', error: 'timeout' });
  });

  it('says "remaining 0" is empty even without the exhausted flag', () => {
    expect(quotaCell(makeQuotaEntry({ snapshot: makeSnapshot({ remaining: 0 }) })).tone).toBe('bad');
  });
});

describe('ledgerCell', () => {
  it('shows tokens since the last check', () => {
    const cell = ledgerCell({ tokens_since_check: 1234, since_unix_ms: NOW });
    expect(cell.text).toBe('1.2k tok');
    expect(cell.title).toMatch(/^1,234 tokens served since the usage check at /);
  });
  it('says when there was no check yet', () => {
    expect(ledgerCell({ tokens_since_check: 50, since_unix_ms: null }).title).toContain('no successful usage check yet');
  });
  it('shows "—" when nothing is known', () => {
    expect(ledgerCell(undefined).text).toBe('—');
    expect(ledgerCell({ tokens_since_check: 0, since_unix_ms: NOW }).text).toBe('0 tok');
  });
});

describe('snapshotDetails', () => {
  it('lists every reported quantity', () => {
    const rows = snapshotDetails(
      makeSnapshot({
        remaining: 12.3,
        today_used: 1.75,
        daily_spent_usd: 2,
        daily_budget_usd: 10,
        monthly_spent_usd: 3,
        monthly_budget_usd: 0,
        granted: 50,
        expires_at_unix_ms: NOW,
      }),
    );
    const byLabel = Object.fromEntries(rows.map((r) => [r.label, r.value]));
    expect(byLabel).toMatchObject({
      Remaining: '$12.30',
      'Used today': '$1.75',
      'Daily budget': '$2.00 of $10.00 spent',
      'Monthly budget': '$3.00 spent (no budget)',
      Granted: '$50.00',
      Unit: 'US dollars',
    });
    expect(byLabel.Expires).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    expect(byLabel['Weekly budget']).toBeUndefined();
  });
  it('says an overdrawn balance is overdrawn, never a negative amount left', () => {
    const cny = makeSnapshot({ remaining: -12.5, unit: 'CNY' });
    expect(quotaCell(makeQuotaEntry({ snapshot: cny })).text).toBe('¥12.50 overdrawn');
    expect(snapshotDetails(cny)).toContainEqual({ label: 'Remaining', value: '¥12.50 overdrawn' });
    const quota = makeSnapshot({ remaining: null, available: -1200, unit: 'quota' });
    expect(quotaCell(makeQuotaEntry({ snapshot: quota })).text).toBe('1.2k quota overdrawn');
  });
  it('says a key whose expiry had passed when it was checked expired', () => {
    const s = makeSnapshot({ fetched_at_unix_ms: NOW, expires_at_unix_ms: NOW - 86_400_000 });
    expect(snapshotDetails(s).map((r) => r.label)).toContain('Expired');
    expect(quotaCell(makeQuotaEntry({ snapshot: s })).title).toMatch(/Its key had expired when it was checked/);
    const later = makeSnapshot({ fetched_at_unix_ms: NOW, expires_at_unix_ms: NOW + 86_400_000 });
    expect(snapshotDetails(later).map((r) => r.label)).toContain('Expires');
    expect(quotaCell(makeQuotaEntry({ snapshot: later })).title).not.toMatch(/expired/);
  });
  it('shows budgets in their currency', () => {
    const s = makeSnapshot({ daily_spent_usd: 120, daily_budget_usd: 100, budget_unit: 'CNY', remaining: null });
    expect(snapshotDetails(s)).toContainEqual({ label: 'Daily budget', value: '¥120.00 of ¥100.00 spent' });
    expect(quotaCell(makeQuotaEntry({ snapshot: s })).text).toBe('¥120.00 of ¥100.00/day');
  });
  it('says unlimited', () => {
    expect(snapshotDetails(makeSnapshot({ unlimited: true }))[0]).toEqual({ label: 'Remaining', value: 'Unlimited' });
  });
});

describe('refreshOutcome', () => {
  const ids = ['p1', 'p2', 'p3', 'p4'];
  const quota = seededQuota();

  it('reports one provider: checked, failed, or nothing to check', () => {
    expect(refreshOutcome({ quota, ledgers: {} }, 'p1', ids)).toEqual({ tone: 'success', title: 'Usage checked for p1' });
    expect(refreshOutcome({ quota, ledgers: {} }, 'p3', ids)).toEqual({
      tone: 'error',
      title: 'Usage check failed for p3',
      message: 'HTTP 502 from https://three.example.com/api/usage',
    });
    expect(refreshOutcome({ quota, ledgers: {} }, 'p4', ids)).toMatchObject({ tone: 'info', title: 'Nothing to check for p4' });
  });

  it('reports all providers', () => {
    expect(refreshOutcome({ quota, ledgers: {} }, null, ids)).toMatchObject({
      tone: 'error',
      title: 'Usage check failed for p3',
    });
    const { p3: _p3, ...fine } = quota;
    expect(refreshOutcome({ quota: fine, ledgers: {} }, null, ids)).toEqual({
      tone: 'success',
      title: 'Usage checked for 2 providers',
    });
    expect(refreshOutcome({ quota: {}, ledgers: {} }, null, ids)).toMatchObject({ tone: 'info', title: 'No usage to check' });
  });

  it('counts the failures when naming them all would fill the toast, and lists each on a line of its own', () => {
    const many = Array.from({ length: 20 }, (_, i) => `relay-${i}`);
    const failing = Object.fromEntries(many.map((id) => [id, { ...quota.p3!, error: `no usage endpoint at ${id}` }]));
    const outcome = refreshOutcome({ quota: failing, ledgers: {} }, null, many, (id) => id.toUpperCase());
    expect(outcome.title).toBe('Usage check failed for 20 of 20 providers');
    expect(outcome.message?.split('\n')).toHaveLength(20);
    expect(outcome.message?.split('\n')[19]).toBe('RELAY-19: no usage endpoint at relay-19');
    const three = many.slice(0, 3);
    expect(refreshOutcome({ quota: failing, ledgers: {} }, null, three, (id) => id.toUpperCase()).title).toBe(
      'Usage check failed for RELAY-0, RELAY-1, RELAY-2',
    );
  });
});
