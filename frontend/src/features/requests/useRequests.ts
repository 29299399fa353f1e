import { useCallback, useEffect, useMemo, useState } from 'react';
import type { Bridge } from '../../bridge';
import { useToasts } from '../../hooks/toasts';
import type { Actions } from '../../hooks/useActions';
import { useQuery, type Query } from '../../hooks/useQuery';
import { LIVE_POLL_MS, PAGE_SIZE, filtersKey } from '../../logic/requests';
import type { Config, ExportFormat, ListRequestsArgs, RequestDetail, RequestFilters, RequestPage } from '../../types';
import { countNoun } from '../../logic/format';

export interface RequestPaging {
  page: Query<RequestPage>;
  /** Names the page shown: its filters and position. */
  key: string;
  live: boolean;
  older: () => void;
  newer: () => void;
  newest: () => void;
  oldest: () => void;
}

/** The page shown: the newest (null), the rows listed after a row (older) or just before it (newer), or the oldest. */
type Place = null | 'oldest' | { before: number } | { after: number };

function placeArgs(at: Place): Pick<ListRequestsArgs, 'before_id' | 'after_id' | 'oldest'> {
  if (at === null) return {};
  if (at === 'oldest') return { oldest: true };
  return 'before' in at ? { before_id: at.before } : { after_id: at.after };
}

function placeKey(at: Place): string {
  if (at === null || at === 'oldest') return at ?? 'top';
  return 'before' in at ? `before-${at.before}` : `after-${at.after}`;
}

/**
 * One page of list_requests for the filters. The newest page is re-read every ~2 s; the others (Older,
 * Newer, Oldest: each a step from the page shown, whatever its depth) stay still, but are read again when
 * `providersGone` changes (a provider renamed: its rows now carry the new id). Changing the filters goes
 * back to the newest page.
 */
export function useRequestPages(
  bridge: Bridge,
  filters: RequestFilters,
  pollMs = LIVE_POLL_MS,
  providersGone = 0,
): RequestPaging {
  const fKey = filtersKey(filters);
  // The page shown, for the filters it was reached with.
  const [paging, setPaging] = useState<{ key: string; at: Place }>({ key: fKey, at: null });
  // Other filters: back to the newest page, the page of the last ones forgotten (else going back to those
  // filters would bring back a paused old page). Adjusted while rendering, as React's docs do it for state
  // that follows a prop.
  if (paging.key !== fKey) setPaging({ key: fKey, at: null });
  const at = paging.key === fKey ? paging.at : null;

  const load = useCallback(
    () => bridge.call('list_requests', { ...filters, limit: PAGE_SIZE, ...placeArgs(at) }),
    [bridge, filters, at],
  );
  const key = `requests:${fKey}:${placeKey(at)}`;
  const page = useQuery(key, load, at === null ? pollMs : 0, providersGone);
  const { data, error, refresh } = page;
  // A step to the page asked for already (one that could not be read, say) asks for it again.
  const go = (to: Place) => (placeKey(to) === placeKey(at) ? void refresh() : setPaging({ key: fKey, at: to }));

  return {
    page,
    key,
    live: at === null,
    // While a page is on its way there is nowhere to step from yet; one that could not be read is asked for again
    // (Older), or left for the newest (Newer: it says nothing of where it stands).
    older: () => {
      if (data === null) {
        if (error !== null) void refresh();
      } else if (data.next_before_id !== null) go({ before: data.next_before_id });
    },
    newer: () => {
      if (at === null) return;
      if (data === null) {
        if (error !== null) go(null);
        return;
      }
      const first = data.requests[0];
      // Rows cut away under an older page: the ones left above it begin at the oldest end.
      if (!first) go(data.newer > 0 ? 'oldest' : null);
      else go(data.newer <= PAGE_SIZE ? null : { after: first.id });
    },
    newest: () => go(null),
    oldest: () => go('oldest'),
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
