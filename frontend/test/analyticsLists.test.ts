// Usage page lists: providers only the log knows (deleted or renamed) come after the dashboard's order, by
// name; the latency chart has no empty group for a provider without a measurement (e.g. no TTFB: every
// request failed); a timeline lists every attempt that did not serve the request.
import { describe, expect, it } from 'vitest';
import type { Analytics, TimelineEntry, TrafficStats } from '../src/types';
import { analyticsProviderIds, percentileRows, timelineItems } from '../src/logic/analytics';
import { empty } from './fakeUsage';

const none = { p50: null, p90: null, p99: null };
function stats(over: Partial<TrafficStats> = {}): TrafficStats {
  return {
    ...empty(),
    requests: 1,
    latency_ms: { p50: 500, p90: 800, p99: 900 },
    ttfb_ms: { p50: 100, p90: 200, p99: 300 },
    ...over,
  };
}
function analytics(providers: Record<string, TrafficStats>): Analytics {
  return { window: 'hour', since_unix_ms: 0, now_unix_ms: 3_600_000, bucket_ms: 60_000, overall: stats(), providers, series: [] };
}

describe('analyticsProviderIds', () => {
  it('puts providers the dashboard does not know after it, sorted by id', () => {
    const a = analytics({ zeta: stats(), p1: stats(), alpha: stats() });
    expect(analyticsProviderIds(a, ['p1'])).toEqual(['p1', 'alpha', 'zeta']);
  });
});

describe('percentileRows', () => {
  it('leaves out a provider with no measurement at all, keeps one with some', () => {
    const a = analytics({
      p1: stats(),
      p2: stats({ ttfb_ms: none }),
      p3: stats({ ttfb_ms: { p50: 90, p90: null, p99: null } }),
    });
    expect(percentileRows(a, ['p1', 'p2', 'p3'], 'ttfb_ms').map((r) => r.provider)).toEqual(['p1', 'p3']);
  });
});

describe('timelineItems: failed attempts', () => {
  it('lists every attempt that did not serve, whatever its outcome', () => {
    const e = {
      id: 1,
      unix_ms: 0,
      provider: 'p3',
      status: 200,
      latency_ms: 900,
      ttfb_ms: 100,
      total_tokens: 10,
      error: null,
      attempts: [
        { provider: 'p1', outcome: 'provider_failure', status: 502, latency_ms: 100, error: 'HTTP 502' },
        { provider: 'p2', outcome: 'retry', status: 400, latency_ms: 100, error: 'item not found' },
        { provider: 'p3', outcome: 'ok', status: 200, latency_ms: 700, error: null },
      ],
      failover: true,
      switched: false,
      model: 'm',
      sent_model: 'm',
      hedged: false,
    } as unknown as TimelineEntry;
    expect(timelineItems([e])[0].failed.map((a) => a.provider)).toEqual(['p1', 'p2']);
  });
});
