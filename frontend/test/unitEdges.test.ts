// A figure just under a unit's end reads in the larger unit, as the figure at the end does: "1 s", not
// "1000 ms" (latencies are fractional in the request log), "1.0 MB", not "1024 KB".
import { expect, it } from 'vitest';
import { formatLatency } from '../src/logic/format';
import { formatBytes } from '../src/logic/requests';

it('999.7 ms reads as 1 s, not "1000 ms"', () => {
  expect(formatLatency(999.7)).toBe('1 s');
  expect(formatLatency(999.4)).toBe('999 ms');
});

it('a size that rounds to 1024 of a unit reads as 1 of the next', () => {
  expect(formatBytes(1023.6)).toBe('1.0 KB');
  expect(formatBytes(1_048_575)).toBe('1.0 MB');
  expect(formatBytes(1_048_000)).toBe('1023 KB');
});
