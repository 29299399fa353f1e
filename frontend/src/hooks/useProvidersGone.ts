import { useState } from 'react';
import { idsGone } from '../logic/names';
import type { ProviderId } from '../types';

/**
 * How many times an id has left `providerOrder` (a provider renamed or deleted) since the caller
 * mounted. The server re-labels a renamed provider's past requests at once, so what was read under
 * the old id should be read again: pass the count to `useQuery` as its `generation`. Ids only added
 * (the list arriving at start, a new provider) change nothing already read.
 */
export function useProvidersGone(providerOrder: readonly ProviderId[]): number {
  const key = providerOrder.join('\n');
  const [seen, setSeen] = useState({ key, gone: 0 });
  if (seen.key === key) return seen.gone;
  // The list changed since the last render: noted during rendering (no effect, no extra paint).
  const next = { key, gone: seen.gone + (idsGone(seen.key.split('\n').filter(Boolean), providerOrder) ? 1 : 0) };
  setSeen(next);
  return next.gone;
}
