import { useCallback, useRef, useState } from 'react';
import type { ActionResult } from '../../hooks/useActions';
import type { ProviderId } from '../../types';
import { hasOwn, own, setOwn } from '../../logic/own';

/** One provider's run of an action: in flight (which run), its result, or why it failed. */
export type RunState<T> =
  | { loading: true; run: number }
  | { loading: false; result: T }
  | { loading: false; error: string };

export interface ResultsById<T> {
  byId: Record<ProviderId, RunState<T>>;
  /** Mark these providers as running; the run's number goes back to `finish`. */
  start: (ids: readonly ProviderId[]) => number;
  /**
   * Record how each run ended; an id mapped to undefined is dropped (nothing ran for it). Only a
   * provider still waiting for this very run takes its outcome: one closed meanwhile stays closed,
   * and a newer run's result is never replaced by an older one that finished later.
   */
  finish: (run: number, outcomes: Record<ProviderId, ActionResult<T> | undefined>) => void;
  close: (id: ProviderId) => void;
}

/** Per-provider outcomes of an action, each shown under its row until closed. */
export function useResultsById<T>(): ResultsById<T> {
  const [byId, setById] = useState<Record<ProviderId, RunState<T>>>({});
  const runs = useRef(0);

  const start = useCallback((ids: readonly ProviderId[]) => {
    const run = ++runs.current;
    setById((s) => {
      const next = { ...s };
      for (const id of ids) setOwn(next, id, { loading: true, run });
      return next;
    });
    return run;
  }, []);

  const finish = useCallback(
    (run: number, outcomes: Record<ProviderId, ActionResult<T> | undefined>) =>
      setById((s) => {
        const next = { ...s };
        for (const [id, r] of Object.entries(outcomes)) {
          const waiting = own(s, id);
          if (!waiting?.loading || waiting.run !== run) continue;
          if (!r) delete next[id];
          else setOwn(next, id, r.ok ? { loading: false, result: r.value } : { loading: false, error: r.error.message });
        }
        return next;
      }),
    [],
  );

  const close = useCallback(
    (id: ProviderId) =>
      setById((s) => {
        if (!hasOwn(s, id)) return s;
        const { [id]: _closed, ...rest } = s;
        return rest;
      }),
    [],
  );

  return { byId, start, finish, close };
}
