// The Usage page's error rate at its edges: a few in many is not "0%", all but a few is not "100%".

import { describe, expect, it } from 'vitest';
import { errorRate } from '../src/logic/analytics';

describe('errorRate edges', () => {
  it.each([
    [0, 2001, '0%'],
    [1, 2001, '<0.1%'],
    [1, 1000, '0.1%'],
    [2000, 2001, '>99.9%'],
    [999, 1000, '99.9%'],
    [996, 1000, '99.6%'],
    [2001, 2001, '100%'],
    [1, 8, '13%'],
  ])('%d of %d → %s', (errors, requests, s) => expect(errorRate({ requests, errors })).toBe(s));
});
