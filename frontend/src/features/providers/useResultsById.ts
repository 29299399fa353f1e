import { useCallback, useState } from 'react';
import type { ActionResult } from '../../hooks/useActions';
import type { ProviderId } from '../../types';

/** One provider's run of an action: in flight, its result, or why it failed. */
export type RunState<T> = { loading: true } | { loading: false; result: T } | { loading: false; error: string };

export interface ResultsById<T> {
  byId: Record<ProviderId, RunState<T>>;
  /** Mark these providers as running. */
  start: (ids: readonly ProviderId[]) => void;
  /** Record how each run ended; an id mapped to undefined is dropped (nothing ran for it). */
  finish: (outcomes: Record<ProviderId, ActionResult<T> | undefined>) => void;
  close: (id: ProviderId) => void;
}

/** Per-provider outcomes of an action, each shown under its row until closed. */
export function useResultsById<T>(): ResultsById<T> {
  const [byId, setById] = useState<Record<ProviderId, RunState<T>>>({});

  const start = useCallback(
    (ids: readonly ProviderId[]) =>
      setById((s) => {
        const next = { ...s };
        for (const id of ids) next[id] = { loading: true };
        return next;
      }),
    [],
  );

  const finish = useCallback(
    (outcomes: Record<ProviderId, ActionResult<T> | undefined>) =>
      setById((s) => {
        const next = { ...s };
        for (const [id, r] of Object.entries(outcomes)) {
          if (!r) delete next[id];
          else next[id] = r.ok ? { loading: false, result: r.value } : { loading: false, error: r.error.message };
        }
        return next;
      }),
    [],
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

  return { byId, start, finish, close };
}
