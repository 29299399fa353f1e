import { useCallback, useState } from 'react';
import type { Actions } from '../../hooks/useActions';
import type { ProviderId, ProviderTest } from '../../types';

export type TestState = { loading: true } | { loading: false; result: ProviderTest } | { loading: false; error: string };

export interface ProviderTests {
  /** The test run from this page per provider (loading, result or error) until closed. */
  byId: Record<ProviderId, TestState>;
  allBusy: boolean;
  test: (id: ProviderId) => void;
  /** Every enabled provider; each row shows its own result. */
  testAll: (ids: readonly ProviderId[]) => void;
  close: (id: ProviderId) => void;
}

/** test_provider / test_all_providers with per-provider state for the result strips. */
export function useProviderTests(actions: Pick<Actions, 'testProvider' | 'testAllProviders'>): ProviderTests {
  const [byId, setById] = useState<Record<ProviderId, TestState>>({});
  const [allBusy, setAllBusy] = useState(false);

  const test = useCallback(
    (id: ProviderId) => {
      setById((s) => ({ ...s, [id]: { loading: true } }));
      void actions.testProvider(id).then((r) =>
        setById((s) => ({
          ...s,
          [id]: r.ok ? { loading: false, result: r.value } : { loading: false, error: r.error.message },
        })),
      );
    },
    [actions],
  );

  const testAll = useCallback(
    (ids: readonly ProviderId[]) => {
      setAllBusy(true);
      setById((s) => {
        const next = { ...s };
        for (const id of ids) next[id] = { loading: true };
        return next;
      });
      void actions.testAllProviders().then((r) => {
        setAllBusy(false);
        setById((s) => {
          const next = { ...s };
          for (const id of ids) {
            const result = r.ok ? r.value.results[id] : undefined;
            if (result) next[id] = { loading: false, result };
            else if (!r.ok) next[id] = { loading: false, error: r.error.message };
            else delete next[id]; // not tested (disabled, or no base URL)
          }
          return next;
        });
      });
    },
    [actions],
  );

  const close = useCallback(
    (id: ProviderId) =>
      setById((s) => {
        if (!(id in s)) return s;
        const { [id]: _closed, ...rest } = s;
        return rest;
      }),
    [],
  );

  return { byId, allBusy, test, testAll, close };
}
