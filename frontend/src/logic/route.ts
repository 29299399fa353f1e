// Hash routing: `#/`, `#/requests?provider=p1`, `#/usage` (a page's own path, `/requests?…`, is read as its
// hash once, at start: see hashForPath). Pure.

import { setOwn } from './own';

export type Page = 'dashboard' | 'requests' | 'usage';

export type RouteParams = Readonly<Record<string, string>>;

export interface Route {
  page: Page;
  /** Query parameters after `?` (empty values dropped). */
  params: RouteParams;
}

const PAGES: readonly Page[] = ['dashboard', 'requests', 'usage'];

export function parseRoute(hash: string): Route {
  const body = hash.replace(/^#\/?/, '');
  const q = body.indexOf('?');
  const path = (q < 0 ? body : body.slice(0, q)).split('/')[0];
  const params: Record<string, string> = {};
  if (q >= 0) {
    for (const [k, v] of new URLSearchParams(body.slice(q + 1))) if (v !== '') setOwn(params, k, v);
  }
  const page = (PAGES as readonly string[]).includes(path) ? (path as Page) : 'dashboard';
  return { page, params };
}

/** `#/`, `#/usage`, `#/requests?provider=p1` (params with empty values are left out). */
export function routeHash(page: Page, params: Readonly<Record<string, string | null | undefined>> = {}): string {
  const base = page === 'dashboard' ? '#/' : `#/${page}`;
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== '') q.set(k, v);
  const text = q.toString();
  return text ? `${base}?${text}` : base;
}

/** The hash for an address that names a page by its path (`/requests?provider=p1` → `#/requests?provider=p1`,
 *  as links written by hand or by other tools do); null for any other path. */
export function hashForPath(pathname: string, search: string): string | null {
  const page = pathname.replace(/^\/+|\/+$/g, '').toLowerCase();
  if (!(PAGES as readonly string[]).includes(page)) return null;
  if (page === 'dashboard') return routeHash('dashboard');
  return `${routeHash(page as Page)}${search.startsWith('?') && search.length > 1 ? search : ''}`;
}
