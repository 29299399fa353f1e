import { useCallback, useEffect, useRef, useState } from 'react';
import { BridgeError, errorMessage, type Bridge } from '../bridge';
import { shareStatus } from '../logic/share';
import type { Status } from '../types';
import { serverClock, type ServerClock } from './serverClock';

const POLL_INTERVAL_MS = 1500;

export interface StatusStore {
  status: Status | null;
  /** Last polling failure; null once a poll succeeds again. */
  error: BridgeError | null;
  /** Fetch now (after an action). Resolves when applied; never throws. */
  refresh: () => Promise<void>;
  /** Apply a Status returned by an action (set_preferred_provider, set_manual_override). */
  apply: (next: Status) => void;
}

export interface UseStatusOptions {
  intervalMs?: number;
  initial?: Status | null;
  clock?: ServerClock;
  /** Stop polling (e.g. while the token prompt is shown). */
  paused?: boolean;
}

/**
 * The one data source for the dashboard: polls get_status and keeps object identity for every
 * unchanged part so memoised rows do not re-render.
 */
export function useStatus(bridge: Bridge, opts: UseStatusOptions = {}): StatusStore {
  const { intervalMs = POLL_INTERVAL_MS, initial = null, clock = serverClock, paused = false } = opts;
  const [status, setStatus] = useState<Status | null>(initial);
  const [error, setError] = useState<BridgeError | null>(null);
  const statusRef = useRef<Status | null>(initial);
  const seq = useRef(0);

  const show = useCallback(
    (next: Status) => {
      clock.sync(next.now_unix_ms);
      const shared = shareStatus(statusRef.current, next);
      statusRef.current = shared;
      setStatus(shared);
      setError(null);
    },
    [clock],
  );

  // A Status returned by an action is newer than any poll still under way: those are dropped.
  const apply = useCallback(
    (next: Status) => {
      seq.current += 1;
      show(next);
    },
    [show],
  );

  const refresh = useCallback(async () => {
    const mine = ++seq.current;
    try {
      const next = await bridge.call('get_status');
      // A slower, older poll must not overwrite a newer result.
      if (mine === seq.current) show(next);
    } catch (e) {
      if (mine !== seq.current) return;
      const err =
        e instanceof BridgeError ? e : new BridgeError(errorMessage(e), { kind: 'server', method: 'get_status' });
      setError((prev) => (prev && prev.message === err.message && prev.kind === err.kind ? prev : err));
    }
  }, [bridge, show]);

  // The status the token check returned is the first state; it sets the server clock too.
  useEffect(() => {
    if (initial) clock.sync(initial.now_unix_ms);
  }, [clock, initial]);

  useEffect(() => {
    if (paused) return;
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const loop = async () => {
      await refresh();
      if (!stopped) timer = setTimeout(loop, intervalMs);
    };
    if (statusRef.current) timer = setTimeout(loop, intervalMs);
    else void loop();
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    };
  }, [refresh, intervalMs, paused]);

  return { status, error, refresh, apply };
}
