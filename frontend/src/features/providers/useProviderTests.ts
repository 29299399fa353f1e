import { useCallback, useState } from 'react';
import type { Actions } from '../../hooks/useActions';
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

/** How many providers "Test all" tests at the same time. */
export const TESTS_AT_ONCE = 4;

/**
 * test_provider with per-provider state for the result strips. "Test all" tests each provider on its
 * own, TESTS_AT_ONCE at a time, so each row shows its result as soon as it has one (a relay that
 * hangs holds up only its own row).
 */
export function useProviderTests(actions: Pick<Actions, 'testProvider'>): ProviderTests {
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
      const queue = [...ids];
      // A few at a time: each may wait up to 50 s on a relay that hangs, and the gateway answers the
      // other slow calls (probe, usage) from the same small set of threads.
      const worker = async () => {
        for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
          const tested = id;
          finish(run, { [tested]: await actions.testProvider(tested) });
        }
      };
      void Promise.all(Array.from({ length: Math.min(TESTS_AT_ONCE, ids.length) }, worker)).then(() =>
        setAllBusy(false),
      );
    },
    [actions, start, finish],
  );

  return { byId, allBusy, test, testAll, close };
}
