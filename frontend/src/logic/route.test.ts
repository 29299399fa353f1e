import { describe, expect, it } from 'vitest';
import { parseRoute, routeHash } from './route';

describe('hash routes', () => {
  it.each([
    ['', 'dashboard'],
    ['#', 'dashboard'],
    ['#/', 'dashboard'],
    ['#/usage', 'usage'],
    ['#usage', 'usage'],
    ['#/usage?x=1', 'usage'],
    ['#/nope', 'dashboard'],
  ] as const)('%j → %s', (hash, route) => expect(parseRoute(hash)).toBe(route));
  it('round-trips', () => {
    expect(parseRoute(routeHash('usage'))).toBe('usage');
    expect(parseRoute(routeHash('dashboard'))).toBe('dashboard');
  });
});
