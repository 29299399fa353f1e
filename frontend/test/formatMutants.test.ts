// Kills surviving mutants of src/logic/format.ts (found by mutation testing): the cooldown countdown past
// half an hour, the key preview's prefix, and latency and size wording at their unit boundaries.
import { describe, expect, it } from 'vitest';
import { formatCountdown, formatLatency, maskSecret } from '../src/logic/format';
import { formatBytes } from '../src/logic/requests';

describe('formatCountdown past half an hour', () => {
  it.each([
    [1_800_000, '30:00'],
    [2_700_000, '45:00'],
    [3_599_000, '59:59'],
    [3_600_000, '1:00:00'],
    [5_400_000, '1:30:00'],
    [9_000_000, '2:30:00'],
  ])('formatCountdown(%d) = %s', (ms, s) => expect(formatCountdown(ms)).toBe(s));
});

describe('maskSecret never shows more than a short prefix', () => {
  it('keeps no prefix when the first "_" comes late in the key', () => {
    const key = 'abcdefghij_klmnopqrstuvwx1234';
    const shown = maskSecret(key);
    expect(shown).toBe('••••••••1234');
    expect(shown).not.toContain('abcdefghij');
  });
});

describe('formatLatency at its boundaries', () => {
  it('a whole second reads in seconds', () => {
    expect(formatLatency(999)).toBe('999 ms');
    expect(formatLatency(1000)).toBe('1 s');
  });
  it('ten seconds and more keep one decimal', () => {
    expect(formatLatency(12_345)).toBe('12.3 s');
    expect(formatLatency(9_876)).toBe('9.88 s');
  });
  // A figure just under a unit's end reads in the larger unit, as the end does (latencies are fractional).
  it('999.7 ms reads as 1 s, not "1000 ms"', () => {
    expect(formatLatency(999.7)).toBe('1 s');
    expect(formatLatency(999.4)).toBe('999 ms');
  });
});

describe('formatBytes at its boundaries', () => {
  it('a size that rounds to 1024 of a unit reads as 1 of the next', () => {
    expect(formatBytes(1023.6)).toBe('1.0 KB');
    expect(formatBytes(1_048_575)).toBe('1.0 MB');
    expect(formatBytes(1_048_000)).toBe('1023 KB');
  });
});
