import { useMemo, useSyncExternalStore } from 'react';
import { parseRoute, type Route } from '../logic/route';

// The location hash as an external store. `navigate(…, { replace: true })` changes it without a new
// history entry (history.replaceState fires no hashchange, so the store tells its subscribers).

const local = new Set<() => void>();

function subscribe(onChange: () => void): () => void {
  window.addEventListener('hashchange', onChange);
  local.add(onChange);
  return () => {
    window.removeEventListener('hashchange', onChange);
    local.delete(onChange);
  };
}

const currentHash = () => window.location.hash;

/** Go to `hash`. `replace`: update the address without adding a history entry (typing in a filter). */
export function navigate(hash: string, opts: { replace?: boolean } = {}): void {
  if (window.location.hash === hash) return;
  if (opts.replace) {
    window.history.replaceState(window.history.state, '', hash);
    for (const fn of [...local]) fn();
  } else {
    window.location.hash = hash;
  }
}

export function useRoute(): Route {
  const hash = useSyncExternalStore(subscribe, currentHash);
  return useMemo(() => parseRoute(hash), [hash]);
}
