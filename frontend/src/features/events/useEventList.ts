import { useCallback, useMemo, useState } from 'react';
import type { Bridge } from '../../bridge';
import { useQuery } from '../../hooks/useQuery';
import { EVENT_LIST_STEP, filterEvents, filterIsSet, searchEvents, type EventFilter, type EventSearch } from '../../logic/events';
import type { GatewayEvent } from '../../types';

export interface EventList {
  /** The events to show, newest first. */
  shown: GatewayEvent[];
  /** Read from the server's whole log (a filter is set); false: the status's newest events. */
  searched: boolean;
  /** The server's answer for this filter is not in yet: `shown` is the newest events filtered meanwhile. */
  searching: boolean;
  /** The search failed: `shown` is the newest events filtered. */
  error: string | null;
  /** Older matching events may exist (shown with "Show older"). */
  more: boolean;
  showOlder: () => void;
}

/**
 * The Events list. Unfiltered, the status's `recent_events` (newest 50). With a filter set, the
 * server's `list_events` (every matching event, the newest EVENT_LIST_STEP first, more on request),
 * read again when a new event arrives or the seen mark moves (`unseen` changes), so "Clear seen" shows.
 */
export function useEventList(
  bridge: Bridge,
  recent: readonly GatewayEvent[],
  unseen: number,
  filter: EventFilter,
): EventList {
  const searched = filterIsSet(filter);
  const filterKey = JSON.stringify(filter);
  // "Show older" counts per filter: a new filter starts from the newest EVENT_LIST_STEP again.
  const [older, setOlder] = useState<{ key: string; want: number }>({ key: filterKey, want: EVENT_LIST_STEP });
  const want = older.key === filterKey ? older.want : EVENT_LIST_STEP;
  const key = searched ? JSON.stringify({ filter, want }) : null;
  const load = useCallback(
    () => searchEvents((args) => bridge.call('list_events', args), JSON.parse(filterKey) as EventFilter, want),
    [bridge, filterKey, want],
  );
  // A new event or a moved seen mark: read the search again (keeping what it shows meanwhile).
  const newest = recent.reduce((m, e) => Math.max(m, e.id), 0);
  const query = useQuery(key, load, 0, newest * 1_000_003 + unseen);
  const local = useMemo(() => filterEvents(recent, filter), [recent, filter]);

  // While "Show older" reads a longer list, the shorter one stays (not the newest 50 meanwhile).
  const [kept, setKept] = useState<{ key: string; data: EventSearch } | null>(null);
  if (query.data !== null && (kept?.data !== query.data || kept.key !== filterKey)) setKept({ key: filterKey, data: query.data });
  const data = query.data ?? (kept?.key === filterKey ? kept.data : null);

  const showOlder = useCallback(() => setOlder({ key: filterKey, want: want + EVENT_LIST_STEP }), [filterKey, want]);
  if (!searched || data === null) {
    return { shown: local, searched, searching: searched && query.error === null, error: query.error, more: false, showOlder };
  }
  return { shown: data.events, searched, searching: query.data === null && query.loading, error: query.error, more: data.more, showOlder };
}
