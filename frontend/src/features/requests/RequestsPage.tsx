import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type { Bridge } from '../../bridge';
import type { Actions } from '../../hooks/useActions';
import { navigate } from '../../hooks/useRoute';
import { useProvidersGone } from '../../hooks/useProvidersGone';
import { useServerNow } from '../../hooks/serverClock';
import { followRenames, nameOf, type NameMap } from '../../logic/names';
import { chosenProviderGone } from '../../logic/providerChoice';
import {
  LIVE_POLL_MS,
  filterParams,
  filtersFromKey,
  filtersKey,
  pageRange,
  requestFilters,
  withOpenRequests,
  type OpenRequest,
  type RequestFilterParams,
} from '../../logic/requests';
import { routeHash, type RouteParams } from '../../logic/route';
import type { ProviderId, RequestRow } from '../../types';
import { Icon } from '../../ui/Icon';
import { ProviderGoneNote } from '../../ui/ProviderGoneNote';
import { CountingNote } from '../usage/CountingNote';
import { RequestFiltersBar } from './RequestFiltersBar';
import { RequestsTable } from './RequestsTable';
import { useRequestExport, useRequestLogSettings, useRequestPages } from './useRequests';
import { countNoun, formatCount } from '../../logic/format';
import { Button } from '../../ui/Button';

const NO_RENAMES: Readonly<Record<ProviderId, ProviderId>> = {};
const NO_PROVIDERS: readonly ProviderId[] = [];
const NO_ROWS: readonly RequestRow[] = [];
const PAGE_CUT_AWAY =
  'The requests of this page are no longer in the log: the retention rules removed them (the oldest go first). Go to Newest.';

interface Props {
  bridge: Bridge;
  actions: Pick<Actions, 'exportRequests'>;
  /** The configured providers' ids; null until the first status has arrived. */
  providerOrder: readonly ProviderId[] | null;
  names: NameMap;
  /** The status's `renamed`: a provider filter follows a renamed provider to its id now. */
  renamed?: Readonly<Record<ProviderId, ProviderId>>;
  /** `provider`, `outcome`, `session`, `q` (from `#/requests?…`). */
  params: RouteParams;
  onOpenSettings: () => void;
  /** Changes with each save of the Settings dialog (the retention sentence is read again). */
  settingsSaved?: number;
  /** Tests shorten the live re-read. */
  pollMs?: number;
  /** The last status's server "now": rows from another day show their day. Without it, the server clock's estimate. */
  nowMs?: number;
  /** The status poll finds the gateway not answering: the page is not live either, whatever its own last read said. */
  gatewayUnreachable?: boolean;
}

/** `#/requests`: every request, newest first, live on the first page; filters, paging, details, export. */
export function RequestsPage({
  bridge,
  actions,
  providerOrder,
  names,
  renamed = NO_RENAMES,
  params,
  onOpenSettings,
  settingsSaved = 0,
  pollMs = LIVE_POLL_MS,
  nowMs,
  gatewayUnreachable = false,
}: Props) {
  // Keyed on content, so the filters keep their identity while the address says the same. A provider
  // filter whose provider was renamed follows it to its new id (its past requests moved there).
  const configured = providerOrder ?? NO_PROVIDERS;
  const asked = filterParams(params);
  const provider = followRenames(asked.provider, configured, renamed);
  const fpKey = JSON.stringify({ ...asked, provider });
  const value = useMemo(() => JSON.parse(fpKey) as RequestFilterParams, [fpKey]);
  const followed = provider !== asked.provider;
  const fKey = filtersKey(requestFilters(value));
  const filters = useMemo(() => filtersFromKey(fKey), [fKey]);

  const providersGone = useProvidersGone(configured);
  // A row from another day shows its day (the clock is read each minute while no status tells it).
  const clockNow = useServerNow(nowMs === undefined, 60_000);
  const now = nowMs ?? clockNow;
  const paging = useRequestPages(bridge, filters, pollMs, providersGone);
  const { exporting, exportAs } = useRequestExport(actions, filters);
  const retention = useRequestLogSettings(bridge, settingsSaved);
  const [open, setOpen] = useState<ReadonlyMap<number, OpenRequest>>(() => new Map());
  const n = useCallback((id: ProviderId) => nameOf(names, id), [names]);
  const pageKey = paging.key;

  const setFilters = useCallback(
    (next: RequestFilterParams) => navigate(routeHash('requests', { ...next }), { replace: true }),
    [],
  );
  // The address says the id the filter followed to, not the one that is gone.
  useEffect(() => {
    if (followed) setFilters(value);
  }, [followed, value, setFilters]);
  // A provider filter naming no provider now (deleted, or renamed by hand; the last one too): said, not
  // left to look like a filter with nothing in it. (Not while the provider list is still loading.)
  const gone = chosenProviderGone(value.provider || null, providerOrder);
  const toggle = useCallback(
    (row: RequestRow) =>
      setOpen((s) => {
        const next = new Map(s);
        if (!next.delete(row.id)) next.set(row.id, { row, page: pageKey });
        return next;
      }),
    [pageKey],
  );

  const data = paging.page.data;
  const rows = data?.requests ?? NO_ROWS;
  // An older page whose rows the retention rules cut meanwhile (the oldest go first): said, not left to read
  // as a filter nothing matches.
  const cutAway = !paging.live && data != null && rows.length === 0 && data.total > 0;
  const shown = useMemo(() => withOpenRequests(rows, open, pageKey), [rows, open, pageKey]);
  const openIds = useMemo(() => new Set(open.keys()), [open]);
  // A row the live page drops (newer requests came) while the focus is in it: the focus goes to the list.
  const list = useRef<HTMLElement>(null);
  const toList = useCallback(() => list.current, []);

  return (
    <main className="page requests" aria-labelledby="requests-title">
      <div className="page__head">
        <h1 id="requests-title" className="page__title" tabIndex={-1}>
          Requests
        </h1>
        <span className="muted small" data-testid="requests-live">
          {paging.live && (paging.page.unreachable || gatewayUnreachable) ? (
            `Not updating: the gateway is not answering (trying again every ${Math.round(pollMs / 1000)} s)`
          ) : paging.live && paging.page.error ? (
            `Not updating: the gateway answered with an error (trying again every ${Math.round(pollMs / 1000)} s)`
          ) : paging.live ? (
            <>
              <span className="live-dot" aria-hidden="true" /> Live · updates every {Math.round(pollMs / 1000)} s
            </>
          ) : (
            'Paused on an older page'
          )}
        </span>
        <div className="page__end toolbar toolbar--wrap">
          <Button type="button" className="btn btn--small" softDisabled={exporting !== null} onClick={() => void exportAs('csv')}>
            <Icon name="download" size={14} /> Export CSV
          </Button>
          <Button type="button" className="btn btn--small" softDisabled={exporting !== null} onClick={() => void exportAs('jsonl')}>
            <Icon name="download" size={14} /> Export JSONL
          </Button>
        </div>
      </div>
      <CountingNote where="requests" />
      <RequestFiltersBar value={value} providerIds={providerOrder} nameOf={n} onChange={setFilters} />
      {gone ? <ProviderGoneNote id={value.provider} what="requests" testId="requests-provider-gone" /> : null}

      {paging.page.error ? (
        <p className="page__error" role="alert">
          {data ? 'Could not update the requests (showing the last ones): ' : 'Could not load the requests: '}
          {paging.page.error}
        </p>
      ) : null}

      <section className="card card--flush" aria-label="Request list" ref={list} tabIndex={-1}>
        {cutAway && shown.length > 0 ? (
          // (the table is not empty: requests opened on this page are kept in it)
          <p className="muted small cut-away" role="status" data-testid="requests-cut-away">
            {PAGE_CUT_AWAY}
          </p>
        ) : null}
        {data ? (
          <RequestsTable
            bridge={bridge}
            rows={shown}
            open={openIds}
            nameOf={n}
            providersGone={providersGone}
            onToggle={toggle}
            focusLost={toList}
            nowMs={now}
            emptyText={cutAway ? PAGE_CUT_AWAY : undefined}
          />
        ) : !paging.page.error ? (
          <p className="muted empty" role="status">
            Loading requests…
          </p>
        ) : null}
        <div className="pager">
          <span className="muted small" data-testid="requests-range">
            {data ? (cutAway ? `${formatCount(data.total)} matching` : `${pageRange(data.newer, rows.length, data.total)} matching`) : ''}
          </span>
          <div className="toolbar">
            <Button type="button" className="btn btn--small" softDisabled={paging.live} onClick={paging.newest}>
              Newest
            </Button>
            <Button type="button" className="btn btn--small" softDisabled={paging.live || (data === null && !paging.page.error)} onClick={paging.newer}>
              <Icon name="chevron-left" size={14} /> Newer
            </Button>
            <Button type="button" className="btn btn--small" softDisabled={data === null ? paging.live || !paging.page.error : data.next_before_id === null} onClick={paging.older}>
              Older <Icon name="chevron-right" size={14} />
            </Button>
            <Button type="button" className="btn btn--small" softDisabled={data !== null && data.next_before_id === null && !cutAway} onClick={paging.oldest}>
              Oldest
            </Button>
          </div>
        </div>
      </section>

      <p className="muted small" data-testid="retention">
        {retention
          ? `The request log keeps ${countNoun(retention.retention_days, 'day')}, at most ${countNoun(retention.max_rows, 'row')}. `
          : ''}
        <button type="button" className="linkish linkish--inline" onClick={onOpenSettings}>
          Change retention…
        </button>
      </p>
    </main>
  );
}
