import { useState } from 'react';

/**
 * `data`, or while it is null — the answer for a new key (another page, window or filter) on its way — the
 * last one there was, marked `stale`: the view keeps its height and the reader's place, dimmed, instead of
 * collapsing to "Loading…" between two answers (a text search through a full log takes a few hundred ms,
 * a month of analytics two seconds). Once that answer is an `error`, nothing is kept: what was read for
 * another key is not shown as this one's. Adjusted while rendering, as React's docs do it for state that
 * follows a prop.
 */
export function useKeptWhileLoading<T>(data: T | null, error: string | null): { shown: T | null; stale: boolean } {
  const [last, setLast] = useState<T | null>(data);
  if (data !== null && data !== last) setLast(data);
  if (data !== null) return { shown: data, stale: false };
  return error === null ? { shown: last, stale: last !== null } : { shown: null, stale: false };
}
