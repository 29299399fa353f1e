// Very large token and quota numbers: past billions they read in T, and past 999T the T are grouped.

import { describe, expect, it } from 'vitest';
import { formatCount } from '../src/logic/format';
import { formatAmount, formatQuantity } from '../src/logic/usage';

describe('formatCount beyond billions', () => {
  it.each([
    [3_200_000_000, '3.2B'],
    [999_960_000_000, '1T'],
    [1.9e12, '1.9T'],
    [9.5e12, '9.5T'],
    [999e12, '999T'],
    [9e15, '9,000T'],
    [1.234e18, '1,234,000T'],
    [-1.9e12, '-1.9T'],
  ])('%d → %s', (n, s) => expect(formatCount(n)).toBe(s));

  it('quota amounts and money use the same scheme', () => {
    expect(formatAmount(9e15)).toBe('9,000T');
    expect(formatAmount(1.9e12)).toBe('1.9T');
    expect(formatQuantity(2.5e12, 'USD')).toBe('$2.5T');
  });
});
