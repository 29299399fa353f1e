import { describe, expect, it } from 'vitest';
import { hashForPath, parseRoute, routeHash } from './route';

describe('hash routes', () => {
  it.each([
    ['', 'dashboard'],
    ['#', 'dashboard'],
    ['#/', 'dashboard'],
    ['#/usage', 'usage'],
    ['#usage', 'usage'],
    ['#/usage?x=1', 'usage'],
    ['#/requests', 'requests'],
    ['#/requests?provider=p1', 'requests'],
    ['#/nope', 'dashboard'],
  ] as const)('%j → %s', (hash, page) => expect(parseRoute(hash).page).toBe(page));

  it('reads the parameters, dropping empty ones', () => {
    expect(parseRoute('#/requests?provider=p1&outcome=error&q=').params).toEqual({ provider: 'p1', outcome: 'error' });
    expect(parseRoute('#/requests?q=bad%20gateway%20%2F%20502').params).toEqual({ q: 'bad gateway / 502' });
    expect(parseRoute('#/usage').params).toEqual({});
  });

  it('round-trips', () => {
    expect(parseRoute(routeHash('usage')).page).toBe('usage');
    expect(parseRoute(routeHash('dashboard')).page).toBe('dashboard');
    expect(routeHash('requests', { provider: 'p.1', q: 'a b', session: '' })).toBe('#/requests?provider=p.1&q=a+b');
    expect(parseRoute(routeHash('requests', { provider: 'p.1', q: 'a&b' }))).toEqual({
      page: 'requests',
      params: { provider: 'p.1', q: 'a&b' },
    });
  });
});

describe('a page named by its path', () => {
  it.each([
    ['/requests', '', '#/requests'],
    ['/requests/', '?provider=p1', '#/requests?provider=p1'],
    ['/Usage', '?session=s-1', '#/usage?session=s-1'],
    ['/dashboard', '', '#/'],
    ['/', '', null],
    ['/assets/app.js', '', null],
    ['/requests/42', '', null],
  ] as const)('%s%s → %s', (path, search, hash) => expect(hashForPath(path, search)).toBe(hash));
});
