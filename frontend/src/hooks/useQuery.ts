import { useCallback, useEffect, useRef, useState } from 'react';
import { BridgeError, errorMessage } from '../bridge';
import { replaceEqualDeep } from '../logic/share';
import { own, setOwn } from '../logic/own';

export interface Query<T> {
  /** The last answer for the current key (kept while a refresh is under way). */
  data: T | null;
  /** The last failure for the current key; null once a fetch succeeds. */
  error: string | null;
  /** That failure is the gateway not answering at all (not running, restarting), not an error it told. */
  unreachable: boolean;
  /** A fetch for the current key is under way. */
  loading: boolean;
  /** Fetch again now; never throws. */
  refresh: () => Promise<void>;
}

/** A read that found the gateway not answering is tried again this soon (or at `intervalMs`, if sooner): a page
 * read while the gateway restarted shows its data again with the header's "Live", not at its next slow poll.
 * (An error the gateway answered with waits for the usual interval: asking again at once changes nothing.) */
export const RETRY_UNREACHABLE_MS = 2_000;

interface Entry<T> {
  data: T | null;
  error: string | null;
  unreachable: boolean;
}

/**
 * Reads `load()` for `key` (null: nothing to read) and again every `intervalMs` (0: never; the gateway not
 * answering: within `RETRY_UNREACHABLE_MS`). Answers
 * are cached per key, so switching back (e.g. to a window seen before) shows data at once, and
 * structurally shared, so an unchanged answer keeps its identity and memoised charts skip a render.
 * A late answer for a key that is no longer current, or older than a newer one, is dropped.
 * `generation`: a change reads the key again at once, keeping what it shows meanwhile (e.g. a count of
 * provider renames: the server has re-labelled what was read under the old id).
 */
export function useQuery<T>(key: string | null, load: () => Promise<T>, intervalMs = 0, generation = 0): Query<T> {
  const [cache, setCache] = useState<Record<string, Entry<T>>>({});
  const [inflight, setInflight] = useState<Record<string, number>>({});
  // Per key, the number of the latest fetch: only its answer is kept. Read and written in callbacks only.
  const seq = useRef<Record<string, number>>({});

  /** Resolves to whether the read found the gateway not answering. */
  const fetchKey = useCallback(async (k: string, read: () => Promise<T>): Promise<boolean> => {
    const mine = (own(seq.current, k) ?? 0) + 1;
    setOwn(seq.current, k, mine);
    setInflight((m) => ({ ...m, [k]: (own(m, k) ?? 0) + 1 }));
    let next: Entry<T> | null = null;
    try {
      const value = await read();
      if (mine === own(seq.current, k)) next = { data: value, error: null, unreachable: false };
    } catch (e) {
      const unreachable = e instanceof BridgeError && e.kind === 'network';
      if (mine === own(seq.current, k)) next = { data: null, error: errorMessage(e), unreachable };
    } finally {
      setInflight((m) => ({ ...m, [k]: Math.max(0, (own(m, k) ?? 1) - 1) }));
    }
    if (!next) return false;
    const got = next;
    setCache((c) => {
      const prev = own(c, k);
      // A failed refresh keeps the data it had.
      const data = got.error !== null ? prev?.data ?? null : replaceEqualDeep(prev?.data ?? undefined, got.data as T);
      if (prev && prev.data === data && prev.error === got.error && prev.unreachable === got.unreachable) return c;
      return { ...c, [k]: { data, error: got.error, unreachable: got.unreachable } };
    });
    return got.unreachable;
  }, []);

  // `load` belongs to `key` (callers memoise it on the same inputs), so both restart the loop; so does a
  // new `generation`.
  useEffect(() => {
    if (key === null) return;
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const loop = async () => {
      const unreachable = await fetchKey(key, load);
      if (!stopped && intervalMs > 0) timer = setTimeout(loop, unreachable ? Math.min(intervalMs, RETRY_UNREACHABLE_MS) : intervalMs);
    };
    void loop();
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    };
  }, [key, load, intervalMs, fetchKey, generation]);

  const refresh = useCallback(async () => {
    if (key !== null) await fetchKey(key, load);
  }, [key, load, fetchKey]);

  const entry = own(cache, key);
  return {
    data: entry?.data ?? null,
    error: entry?.error ?? null,
    unreachable: entry?.unreachable ?? false,
    loading: key !== null && (own(inflight, key) ?? 0) > 0,
    refresh,
  };
}
