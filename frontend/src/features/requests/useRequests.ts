import { useCallback, useEffect, useMemo, useState } from 'react';
import type { Bridge } from '../../bridge';
import { useToasts } from '../../hooks/toasts';
import type { Actions } from '../../hooks/useActions';
import { useQuery, type Query } from '../../hooks/useQuery';
import { LIVE_POLL_MS, PAGE_SIZE, filtersKey } from '../../logic/requests';
import type { Config, ExportFormat, RequestDetail, RequestFilters, RequestPage } from '../../types';
import { countNoun } from '../../logic/format';

export interface RequestPaging {
  page: Query<RequestPage>;
  /** 0 = the newest page (live). */
  index: number;
  /** Names the page shown: its filters and position. */
  key: string;
  live: boolean;
  older: () => void;
  newer: () => void;
  newest: () => void;
}

/**
 * One page of list_requests for the filters. The newest page is re-read every ~2 s; older pages
 * (reached with `before_id`) stay still, but are read again when `providersGone` changes (a provider
 * renamed: its rows now carry the new id). Changing the filters goes back to the newest page.
 */
export function useRequestPages(
  bridge: Bridge,
  filters: RequestFilters,
  pollMs = LIVE_POLL_MS,
  providersGone = 0,
): RequestPaging {
  const fKey = filtersKey(filters);
  // Cursors of the pages above the one shown, for the filters they were made with.
  const [paging, setPaging] = useState<{ key: string; cursors: number[] }>({ key: fKey, cursors: [] });
  // Other filters: back to the newest page, the older pages of the last ones forgotten (else going back
  // to those filters would bring back a paused old page). Adjusted while rendering, as React's docs do it
  // for state that follows a prop.
  if (paging.key !== fKey) setPaging({ key: fKey, cursors: [] });
  const cursors = paging.key === fKey ? paging.cursors : [];
  const before = cursors.length ? cursors[cursors.length - 1] : null;

  const load = useCallback(
    () => bridge.call('list_requests', { ...filters, limit: PAGE_SIZE, before_id: before }),
    [bridge, filters, before],
  );
  const key = `requests:${fKey}:${before ?? 'top'}`;
  const page = useQuery(key, load, before === null ? pollMs : 0, providersGone);
  const next = page.data?.next_before_id ?? null;

  return {
    page,
    index: cursors.length,
    key,
    live: before === null,
    older: () => {
      if (next !== null) setPaging({ key: fKey, cursors: [...cursors, next] });
    },
    newer: () => setPaging({ key: fKey, cursors: cursors.slice(0, -1) }),
    newest: () => setPaging({ key: fKey, cursors: [] }),
  };
}

/**
 * get_request(id): the attempt chain of one request. Read once (it does not change), and again when
 * `providersGone` changes: a provider renamed meanwhile is named in it by its new id from then on, and
 * the old one no longer resolves to a display name.
 */
export function useRequestDetail(bridge: Bridge, id: number, providersGone = 0): Query<RequestDetail> {
  const load = useCallback(() => bridge.call('get_request', { id }), [bridge, id]);
  return useQuery(`request:${id}`, load, 0, providersGone);
}

/** The request log settings, re-read now and then, and at once after each save in Settings (`saves`
 * counts them). */
export function useRequestLogSettings(bridge: Bridge, saves = 0): Config['request_log'] | null {
  const load = useCallback(() => bridge.call('get_config'), [bridge]);
  const config = useQuery('config', load, 15_000);
  const { refresh } = config;
  useEffect(() => {
    if (saves > 0) void refresh();
  }, [saves, refresh]);
  return useMemo(() => config.data?.request_log ?? null, [config.data]);
}

/** The export for the filters, saved as a file, with a toast saying how many rows and where. */
export function useRequestExport(actions: Pick<Actions, 'exportRequests'>, filters: RequestFilters) {
  const toasts = useToasts();
  const [exporting, setExporting] = useState<ExportFormat | null>(null);
  const exportAs = useCallback(
    async (format: ExportFormat) => {
      setExporting(format);
      try {
        const r = await actions.exportRequests(format, filters);
        if (!r.ok || r.value.saved === null) return; // failed (the toast says why) or cancelled in the dialog
        toasts.push({ tone: 'success', title: `Exported ${countNoun(r.value.rows, 'request')}`, message: r.value.saved });
      } finally {
        setExporting(null);
      }
    },
    [actions, filters, toasts],
  );
  return { exporting, exportAs };
}
