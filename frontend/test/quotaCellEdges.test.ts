// The providers table's quota cell at zero: a balance of exactly 0 is "left", not "overdrawn" (overdrawn is
// below zero), and it is shown as bad (nothing left: routing skips the provider), as is an `available` of 0.
import { describe, expect, it } from 'vitest';
import { makeQuotaEntry, makeSnapshot } from './fakeUsage';
import { quotaCell, snapshotDetails } from '../src/logic/usage';

describe('a balance of exactly zero', () => {
  it('remaining 0 reads "$0.00 left", tone bad', () => {
    const cell = quotaCell(makeQuotaEntry({ snapshot: makeSnapshot({ remaining: 0 }) }));
    expect(cell.text).toBe('$0.00 left');
    expect(cell.tone).toBe('bad');
    expect(snapshotDetails(makeSnapshot({ remaining: 0 }))).toContainEqual({ label: 'Remaining', value: '$0.00' });
  });
  it('available 0 reads "0 quota", tone bad', () => {
    const cell = quotaCell(makeQuotaEntry({ snapshot: makeSnapshot({ available: 0, unit: 'quota' }) }));
    expect(cell.text).toBe('0 quota');
    expect(cell.tone).toBe('bad');
  });
  it('a small positive balance is ok, a negative one overdrawn', () => {
    expect(quotaCell(makeQuotaEntry({ snapshot: makeSnapshot({ available: 0.5 }) }))).toMatchObject({ text: '$0.50 left', tone: 'ok' });
    expect(quotaCell(makeQuotaEntry({ snapshot: makeSnapshot({ remaining: 0.5 }) }))).toMatchObject({ text: '$0.50 left', tone: 'ok' });
    expect(quotaCell(makeQuotaEntry({ snapshot: makeSnapshot({ remaining: -2 }) }))).toMatchObject({ text: '$2.00 overdrawn', tone: 'bad' });
  });
});

describe('a budget spent written as a percentage beside a budget in dollars', () => {
  it('is not subtracted from it (README: no difference between a percentage and an amount)', () => {
    const cell = quotaCell(
      makeQuotaEntry({ snapshot: makeSnapshot({ daily_budget_usd: 100, daily_spent_usd: 20, percent_fields: ['daily_spent_usd'] }) }),
    );
    expect(cell.text).toBe('20% of $100.00/day');
    expect(cell.text).not.toContain('left');
    expect(cell.tone).toBe('ok');
  });
});
