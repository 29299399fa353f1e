// Hash routing (no server-side SPA fallback exists). Pure.

export type Route = 'dashboard' | 'usage';

export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#\/?/, '').split(/[?/]/)[0];
  return path === 'usage' ? 'usage' : 'dashboard';
}

export function routeHash(route: Route): string {
  return route === 'usage' ? '#/usage' : '#/';
}
