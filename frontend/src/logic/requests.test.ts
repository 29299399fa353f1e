import { describe, expect, it } from 'vitest';
import {
  chainOutcome,
  filterParams,
  filtersFromKey,
  filtersKey,
  formatBytes,
  hasFilters,
  outcomeBadge,
  pageRange,
  providerCell,
  requestFilters,
  retryBadge,
  retryLabel,
  withOpenRequests,
  type OpenRequest,
} from './requests';
import type { RequestRow } from '../types';

describe('filters from the address', () => {
  it('reads provider, outcome, session and text; drops an unknown outcome', () => {
    const p = filterParams({ provider: 'p1', outcome: 'failover', session: ' s-1 ', q: ' 502 ' });
    expect(requestFilters(p)).toEqual({ provider: 'p1', outcome: 'failover', session_id: 's-1', text: '502' });
    expect(filterParams({ outcome: 'weird' }).outcome).toBe('');
    expect(requestFilters(filterParams({ session_id: 's-2', text: 'bad gateway' }))).toEqual({
      session_id: 's-2',
      text: 'bad gateway',
    });
    expect(requestFilters(filterParams({}))).toEqual({});
    expect(hasFilters(filterParams({}))).toBe(false);
    expect(hasFilters(filterParams({ q: 'x' }))).toBe(true);
  });
  it('keys filters by content', () => {
    expect(filtersKey({ provider: 'p1' })).toBe(filtersKey({ provider: 'p1' }));
    expect(filtersKey({ provider: 'p1' })).not.toBe(filtersKey({ session_id: 'p1' }));
    const f = { provider: 'p1', outcome: 'error' as const, session_id: 's', text: 'a"b' };
    expect(filtersFromKey(filtersKey(f))).toEqual(f);
    expect(filtersFromKey(filtersKey({}))).toEqual({});
  });
});

describe('labels', () => {
  it('request outcomes', () => {
    expect(outcomeBadge({ outcome: 'ok' })).toEqual({ label: 'served', tone: 'ok' });
    expect(outcomeBadge({ outcome: 'client_closed' }).label).toBe('client closed');
  });
  it('attempt outcomes and continuity retries', () => {
    expect(chainOutcome({ outcome: 'hedge_lost' }).label).toMatch(/hedge/);
    expect(chainOutcome({ outcome: 'provider_failure' }).tone).toBe('bad');
    expect(retryLabel('rebuild')).toMatch(/history rebuilt/);
    expect(retryLabel('summarize_compaction')).toMatch(/summarised by this provider/);
    expect(retryLabel(null)).toBeNull();
    // The badge says it in words too (an internal code read as nothing to a person).
    expect(retryBadge('strip_sealed')).toBe('retried: sealed reasoning removed');
    expect(retryBadge('rebuild')).not.toMatch(/_/);
    expect(retryBadge(null)).toBeNull();
  });
});

describe('numbers', () => {
  it('formats sizes', () => {
    expect(formatBytes(980)).toBe('980 B');
    expect(formatBytes(41_234)).toBe('40.3 KB');
    expect(formatBytes(5_300_000)).toBe('5.1 MB');
    expect(formatBytes(null)).toBe('—');
  });
  it('says which rows a page shows', () => {
    expect(pageRange(0, 100, 1234)).toBe('1–100 of 1,234');
    expect(pageRange(1200, 34, 1234)).toBe('1,201–1,234 of 1,234');
    expect(pageRange(1134, 100, 1234)).toBe('1,135–1,234 of 1,234'); // the oldest page: not on a multiple of 100
    expect(pageRange(0, 0, 0)).toBe('0 of 0');
  });
});

describe('the provider cell', () => {
  const names: Record<string, string> = { p1: 'Relay One', p2: 'Relay Two' };
  const nameOf = (id: string) => names[id] ?? id;
  it('names who served', () => {
    expect(providerCell({ provider: 'p2', providers_tried: ['p1', 'p2'] }, nameOf)).toEqual({ served: 'Relay Two', tried: '' });
  });
  it('names whom a request nobody served asked, once each', () => {
    expect(providerCell({ provider: null, providers_tried: ['p1', 'p2', 'p1'] }, nameOf)).toEqual({
      served: null,
      tried: 'tried Relay One, Relay Two',
    });
    expect(providerCell({ provider: null, providers_tried: [] }, nameOf).tried).toBe('none asked');
  });
});

describe('open requests a live re-read pushed off', () => {
  const row = (id: number) => ({ id }) as RequestRow;
  it('are kept after the page’s rows, whose order is the server’s, on the page they were opened on only', () => {
    const open = new Map<number, OpenRequest>([
      [3, { row: row(3), page: 'live' }],
      [9, { row: row(9), page: 'live' }],
      [2, { row: row(2), page: 'older' }],
    ]);
    // By the time each began: a long turn (12) began before shorter ones logged after it.
    const fresh = [row(11), row(10), row(12), row(9)];
    expect(withOpenRequests(fresh, open, 'live').map((r) => r.id)).toEqual([11, 10, 12, 9, 3]);
    expect(withOpenRequests(fresh, open, 'other filters').map((r) => r.id)).toEqual([11, 10, 12, 9]);
    expect(withOpenRequests(fresh, new Map(), 'live')).toBe(fresh);
  });
});
