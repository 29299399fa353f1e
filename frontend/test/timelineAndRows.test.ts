// Session timeline and Requests page cells: a request that ended in an error is never marked as served, a
// row with no sent model reads as the model asked, and request sizes change unit at 1,024.
import { describe, expect, it } from 'vitest';
import type { TimelineEntry } from '../src/types';
import { modelPath, timelineItems } from '../src/logic/analytics';
import { formatBytes } from '../src/logic/requests';

function entry(over: Partial<TimelineEntry>): TimelineEntry {
  return {
    id: 1,
    unix_ms: 1_764_000_000_000,
    provider: 'p1',
    status: 200,
    latency_ms: 900,
    ttfb_ms: 300,
    total_tokens: 100,
    error: null,
    attempts: [{ provider: 'p1', outcome: 'ok', status: 200, latency_ms: 900, error: null }],
    failover: false,
    switched: false,
    model: 'gpt-5.5',
    sent_model: 'gpt-5.5',
    hedged: false,
    ...over,
  } as TimelineEntry;
}

describe('timelineItems: ok only when served without an error', () => {
  it('a 200 whose stream failed after output is not ok', () => {
    const [item] = timelineItems([entry({ status: 200, error: 'the stream broke after output started' })]);
    expect(item.ok).toBe(false);
  });
  it('a 429 with no error text is not ok', () => {
    const [item] = timelineItems([entry({ status: 429, error: null, provider: null })]);
    expect(item.ok).toBe(false);
  });
  it('a plain 200 is ok', () => {
    expect(timelineItems([entry({})])[0].ok).toBe(true);
  });
});

describe('modelPath', () => {
  it('shows the model asked alone when nothing was sent (no provider served)', () => {
    expect(modelPath('gpt-5.5', null)).toBe('gpt-5.5');
    expect(modelPath('gpt-5.5', '')).toBe('gpt-5.5');
    expect(modelPath('gpt-5.5', 'gpt-5.5')).toBe('gpt-5.5');
    expect(modelPath('gpt-5.5', 'openai/gpt-5.5')).toBe('gpt-5.5 → openai/gpt-5.5');
  });
});

describe('formatBytes at the unit boundaries', () => {
  it.each([
    [1023, '1023 B'],
    [1024, '1.0 KB'],
    [102_400, '100 KB'],
    [1_048_576, '1.0 MB'],
  ])('%d → %s', (n, s) => expect(formatBytes(n)).toBe(s));
});
