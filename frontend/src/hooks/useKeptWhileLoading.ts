import { useState } from 'react';

/**
 * `data`, or while it is null — the answer for a new key (another page, window or filter) on its way — the
 * last one there was, marked `stale`: the view keeps its height and the reader's place, dimmed, instead of
 * collapsing to "Loading…" between two answers (a text search through a full log takes a few hundred ms,
 * a month of analytics two seconds). Adjusted while rendering, as React's docs do it for state that follows
 * a prop.
 */
export function useKeptWhileLoading<T>(data: T | null): { shown: T | null; stale: boolean } {
  const [last, setLast] = useState<T | null>(data);
  if (data !== null && data !== last) setLast(data);
  return data !== null ? { shown: data, stale: false } : { shown: last, stale: last !== null };
}
