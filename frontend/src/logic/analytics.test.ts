import { describe, expect, it, vi } from 'vitest';
import { NOW, SESSION_A, SESSION_B, seededRequests, summary, timeline } from '../../test/fakeUsage';
import type { Analytics, Attempt } from '../types';
import {
  analyticsProviderIds,
  attemptPath,
  bucketLabel,
  errorRate,
  formatInt,
  outcomeLabel,
  percentileRows,
  providerColor,
  seriesRows,
  shortSessionId,
  shortTime,
  timelineItems,
} from './analytics';

const hour = (): Analytics => summary(seededRequests(), 'hour', NOW);

describe('analyticsProviderIds', () => {
  it('puts the dashboard order first, then providers only the log knows', () => {
    const a = summary(seededRequests(), 'month', NOW);
    expect(analyticsProviderIds(a, ['p3', 'p1', 'p4'])).toEqual(['p3', 'p1', 'p2']);
    expect(analyticsProviderIds(hour(), [])).toEqual(['p1', 'p2']);
  });
});

describe('seriesRows', () => {
  it('has one row per bucket with every provider, zero-filled', () => {
    const a = hour();
    const rows = seriesRows(a, ['p1', 'p2', 'p4'], 'tokens');
    expect(rows).toHaveLength(12);
    expect(rows[0].t).toBe(a.since_unix_ms);
    expect(rows.every((r) => r.byProvider.get('p4') === 0)).toBe(true);
    const sum = (id: string) => rows.reduce((n, r) => n + (r.byProvider.get(id) ?? 0), 0);
    expect(sum('p1')).toBe(20_900);
    expect(sum('p2')).toBe(12_100);
    expect(rows.reduce((n, r) => n + r.total, 0)).toBe(33_000);
  });

  it('counts requests per provider and failed attempts per bucket', () => {
    const rows = seriesRows(hour(), ['p1', 'p2'], 'requests');
    expect(rows.reduce((n, r) => n + (r.byProvider.get('p1') ?? 0), 0)).toBe(7);
    expect(rows.reduce((n, r) => n + (r.byProvider.get('p2') ?? 0), 0)).toBe(3);
    expect(rows.reduce((n, r) => n + r.errors, 0)).toBe(3);
  });

  it('keeps ids with dots as plain keys', () => {
    const a = hour();
    a.series[0].providers['relay.one'] = { requests: 2, errors: 0, tokens: 9 };
    expect(seriesRows(a, ['relay.one'], 'tokens')[0].byProvider.get('relay.one')).toBe(9);
  });
});

describe('bucketLabel', () => {
  it('shows the time for hour and day windows, the date for 30 days', () => {
    const t = new Date(2025, 10, 24, 9, 5).getTime();
    expect(bucketLabel(t, 'hour')).toBe('09:05');
    expect(bucketLabel(t, 'day')).toBe('09:05');
    expect(bucketLabel(t, 'month')).toBe('Nov 24');
  });

  it("names a day bar by the day it holds where clocks go back at midnight itself (Santiago's 24:00)", () => {
    vi.stubEnv('TZ', 'America/Santiago');
    try {
      // 5 Apr 2026 begins at 03:00 UTC, as the clock reaches 24:00 and goes back to 23:00 of the 4th.
      expect(bucketLabel(Date.UTC(2026, 3, 5, 3), 'month')).toBe('Apr 5');
      expect(bucketLabel(Date.UTC(2026, 3, 4, 3), 'month')).toBe('Apr 4');
      expect(bucketLabel(Date.UTC(2026, 3, 6, 4), 'month')).toBe('Apr 6');
    } finally {
      vi.unstubAllEnvs();
    }
  });
});

describe('percentileRows', () => {
  it('lists providers with measurements', () => {
    expect(percentileRows(hour(), ['p1', 'p2', 'p3'])).toEqual([
      { provider: 'p1', p50: 800, p90: 1000, p99: 1000 },
      { provider: 'p2', p50: 1200, p90: 1500, p99: 1500 },
    ]);
    expect(percentileRows(hour(), ['p1'], 'ttfb_ms')[0]).toEqual({ provider: 'p1', p50: 250, p90: 350, p99: 350 });
  });
});

describe('small helpers', () => {
  it('formats exact integers', () => {
    expect(formatInt(33000)).toBe('33,000');
    expect(formatInt(7)).toBe('7');
    expect(formatInt(-1234567)).toBe('-1,234,567');
    expect(formatInt(null)).toBe('—');
  });
  it('shows the time alone for today, with the date otherwise', () => {
    const now = new Date(2025, 10, 24, 16, 0).getTime();
    expect(shortTime(new Date(2025, 10, 24, 9, 5).getTime(), now)).toBe('09:05');
    expect(shortTime(new Date(2025, 10, 21, 23, 59).getTime(), now)).toBe('Nov 21 23:59');
  });
  it('computes an error rate', () => {
    expect(errorRate({ requests: 8, errors: 1 })).toBe('13%');
    expect(errorRate({ requests: 300, errors: 1 })).toBe('0.3%');
    expect(errorRate({ requests: 5, errors: 0 })).toBe('0%');
    expect(errorRate({ requests: 0, errors: 0 })).toBe('');
  });
  it('cycles provider colours', () => {
    expect(providerColor(0)).toBe(providerColor(8));
    expect(providerColor(1)).not.toBe(providerColor(0));
  });
  it('shortens long session ids only', () => {
    expect(shortSessionId(SESSION_A)).toBe('019a7f3a…');
    expect(shortSessionId('old-session')).toBe('old-session');
    expect(shortSessionId('sess-beta-0002')).toBe('sess-beta-0002');
  });
  it('names attempt outcomes', () => {
    expect(outcomeLabel('provider_failure')).toBe('failed');
    expect(outcomeLabel('ok')).toBe('served');
    // An outcome a newer backend may add is still shown, in words.
    expect(outcomeLabel('something_new' as Attempt['outcome'])).toBe('something new');
  });
});

describe('timelineItems', () => {
  it('marks failovers, switches and failed attempts in order', () => {
    const items = timelineItems(timeline(seededRequests(), SESSION_A).requests);
    expect(items.map((i) => [i.n, i.entry.provider, i.entry.failover, i.switchedFrom])).toEqual([
      [1, 'p1', false, null],
      [2, 'p2', true, 'p1'],
      [3, 'p2', false, null],
      [4, 'p1', false, 'p2'],
    ]);
    expect(items[1].failed).toEqual([
      { provider: 'p1', outcome: 'provider_failure', status: 502, latency_ms: 400, error: 'HTTP 502: bad gateway' },
    ]);
    expect(attemptPath(items[1].entry)).toBe('p1 → p2');
  });

  it('numbers the requests of a session longer than its timeline as the session counts them', () => {
    const items = timelineItems(timeline(seededRequests(), SESSION_A).requests, 1100);
    expect(items.map((i) => i.n)).toEqual([1097, 1098, 1099, 1100]);
  });

  it('does not call the first served request after a total failure a switch', () => {
    const items = timelineItems(timeline(seededRequests(), SESSION_B).requests);
    expect(items[0]).toMatchObject({ ok: false, switchedFrom: null });
    expect(items[0].failed).toHaveLength(2);
    expect(items[1]).toMatchObject({ ok: true, switchedFrom: null });
  });
});
