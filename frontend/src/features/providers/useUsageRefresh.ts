import { useCallback, useState } from 'react';
import type { ProviderId } from '../../types';
import type { Actions } from '../../hooks/useActions';
import { own } from '../../logic/own';

export interface UsageRefresh {
  /** True while a check covering `id` is under way (its own, or "refresh all"). */
  isBusy: (id: ProviderId) => boolean;
  allBusy: boolean;
  /** Check one provider, or all of them (`null`). Resolves when done; never throws. */
  refresh: (id: ProviderId | null) => Promise<void>;
}

const ALL = '\u0000all'; // not a valid provider id

/**
 * Manual usage checks from the providers table, with per-row busy state. `ids` (the providers that
 * exist, for the "all" summary) should keep its identity while the set of providers is unchanged,
 * so that `refresh` does too.
 */
export function useUsageRefresh(actions: Pick<Actions, 'refreshUsage'>, ids: readonly ProviderId[]): UsageRefresh {
  const [busy, setBusy] = useState<Record<string, number>>({});

  const refresh = useCallback(
    async (id: ProviderId | null) => {
      const k = id ?? ALL;
      setBusy((b) => ({ ...b, [k]: (own(b, k) ?? 0) + 1 }));
      try {
        await actions.refreshUsage(id, ids);
      } finally {
        setBusy((b) => {
          const { [k]: _done, ...rest } = b;
          const n = own(b, k) ?? 1;
          return n > 1 ? { ...rest, [k]: n - 1 } : rest;
        });
      }
    },
    [actions, ids],
  );

  const allBusy = (own(busy, ALL) ?? 0) > 0;
  const isBusy = useCallback((id: ProviderId) => allBusy || (own(busy, id) ?? 0) > 0, [allBusy, busy]);
  return { isBusy, allBusy, refresh };
}
