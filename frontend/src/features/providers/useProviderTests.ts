import { useCallback, useState } from 'react';
import type { ActionResult, Actions } from '../../hooks/useActions';
import type { ProviderId, ProviderTest } from '../../types';
import { type RunState, useResultsById } from './useResultsById';

export type TestState = RunState<ProviderTest>;

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
  const { byId, start, finish, close } = useResultsById<ProviderTest>();
  const [allBusy, setAllBusy] = useState(false);

  const test = useCallback(
    (id: ProviderId) => {
      const run = start([id]);
      void actions.testProvider(id).then((r) => finish(run, { [id]: r }));
    },
    [actions, start, finish],
  );

  const testAll = useCallback(
    (ids: readonly ProviderId[]) => {
      setAllBusy(true);
      const run = start(ids);
      void actions.testAllProviders().then((r) => {
        setAllBusy(false);
        const outcomes: Record<ProviderId, ActionResult<ProviderTest> | undefined> = {};
        for (const id of ids) {
          const result = r.ok ? r.value.results[id] : undefined;
          // Not in the results: not tested (disabled, or no base URL).
          outcomes[id] = result ? { ok: true, value: result } : r.ok ? undefined : r;
        }
        finish(run, outcomes);
      });
    },
    [actions, start, finish],
  );

  return { byId, allBusy, test, testAll, close };
}
