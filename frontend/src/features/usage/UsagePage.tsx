import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type { Bridge } from '../../bridge';
import { navigate } from '../../hooks/useRoute';
import { useServerNow } from '../../hooks/serverClock';
import { useProvidersGone } from '../../hooks/useProvidersGone';
import { analyticsProviderIds, providerColor, seriesRows } from '../../logic/analytics';
import { formatClock } from '../../logic/format';
import { nameOf, type NameMap } from '../../logic/names';
import { routeHash, type RouteParams } from '../../logic/route';
import type { AnalyticsWindow, ProviderId } from '../../types';
import { Icon } from '../../ui/Icon';
import { CountingNote } from './CountingNote';
import { LatencyChart } from './LatencyChart';
import { SessionList } from './SessionList';
import { SessionTimelineView } from './SessionTimelineView';
import { TrafficChart } from './TrafficChart';
import { useAnalytics, useSessionTimeline, useSessions } from './useAnalytics';
import { UsageProviderTable } from './UsageProviderTable';
import { UsageTotals } from './UsageTotals';
import { WindowPicker } from './WindowPicker';
import { Button } from '../../ui/Button';
import { setOwn } from '../../logic/own';

interface Props {
  bridge: Bridge;
  /** The dashboard's provider order, so colours and rows follow it. */
  providerOrder: readonly ProviderId[];
  names: NameMap;
  /** `session`: the session whose timeline to show (e.g. linked from the Requests page). */
  params?: RouteParams;
  /** Tests shorten or stop the re-reads. */
  pollMs?: number;
}

const NO_TRAFFIC = 'No requests in this window';
const NO_PARAMS: RouteParams = {};

/** `#/usage`: analytics for a window (totals, per provider, charts) and the session timeline. */
export function UsagePage({ bridge, providerOrder, names, params = NO_PARAMS, pollMs }: Props) {
  const [win, setWin] = useState<AnalyticsWindow>('day');
  // A provider renamed (or deleted) re-labels its past rows on the server: they are read again at once,
  // or the page names them by an id that no longer exists until the next poll.
  const providersGone = useProvidersGone(providerOrder);
  const analytics = useAnalytics(bridge, win, pollMs, providersGone);
  const sessions = useSessions(bridge, pollMs, providersGone);
  const list = sessions.data ?? [];
  // The session in the address, else the newest one.
  const selected = params.session ?? list[0]?.session_id ?? null;
  const timeline = useSessionTimeline(bridge, selected, pollMs, providersGone);
  const now = useServerNow(true, 60_000);
  const pick = useCallback((id: string) => navigate(routeHash('usage', { session: id }), { replace: true }), []);
  // Arrived by a link to a session (the Requests page's): its timeline is what was asked for, so it is
  // brought into view once it has loaded — below the charts, it would otherwise sit out of sight. Once
  // the charts above it and the list of sessions beside it (above it, in a narrow window) have loaded
  // too: arriving later, they would push it back down.
  const sessionsCard = useRef<HTMLElement>(null);
  const linkedSession = useRef<string | null>(params.session ?? null);
  const shownSession = timeline.data?.session_id === selected ? selected : null;
  const settled =
    (analytics.data !== null || analytics.error !== null) && (sessions.data !== null || sessions.error !== null);
  useEffect(() => {
    if (linkedSession.current === null || shownSession !== linkedSession.current || !settled) return;
    linkedSession.current = null;
    const card = sessionsCard.current;
    if (card && typeof card.scrollIntoView === 'function') card.scrollIntoView({ block: 'start' });
  }, [shownSession, settled]);
  const n = useCallback((id: ProviderId) => nameOf(names, id), [names]);

  const data = analytics.data;
  const ids = useMemo(() => (data ? analyticsProviderIds(data, providerOrder) : []), [data, providerOrder]);
  const colors = useMemo(() => {
    const out: Record<ProviderId, string> = {};
    const all = [...providerOrder, ...ids.filter((id) => !providerOrder.includes(id))];
    all.forEach((id, i) => setOwn(out, id, providerColor(i)));
    return out;
  }, [ids, providerOrder]);
  const tokenRows = useMemo(() => (data ? seriesRows(data, ids, 'tokens') : []), [data, ids]);
  const requestRows = useMemo(() => (data ? seriesRows(data, ids, 'requests') : []), [data, ids]);
  const empty = data && data.overall.requests === 0 && ids.length === 0 ? NO_TRAFFIC : null;

  const refreshAll = () => {
    void analytics.refresh();
    void sessions.refresh();
    void timeline.refresh();
  };

  return (
    <main className="page usage" aria-labelledby="usage-title" aria-busy={analytics.loading || undefined}>
      <div className="page__head">
        <h1 id="usage-title" className="page__title" tabIndex={-1}>
          Usage
        </h1>
        <WindowPicker value={win} onChange={setWin} />
        <span className="muted small" data-testid="usage-updated">
          {data ? `Updated ${formatClock(data.now_unix_ms)}` : analytics.loading ? 'Loading…' : ''}
        </span>
        <Button
          type="button"
          className="btn btn--small page__end"
          aria-busy={analytics.loading || undefined}
          softDisabled={analytics.loading}
          onClick={refreshAll}
        >
          <Icon name="refresh" size={14} /> Refresh analytics
        </Button>
      </div>

      {analytics.error ? (
        <p className="page__error" role="alert">
          {data ? 'Could not update the analytics (showing the last ones): ' : 'Could not load the analytics: '}
          {analytics.error}
        </p>
      ) : null}

      {data ? (
        <>
          <UsageTotals overall={data.overall} />
          <div className="usage__grid">
            <TrafficChart
              testId="usage-chart-tokens"
              title="Tokens over time"
              metric="tokens"
              rows={tokenRows}
              ids={ids}
              names={names}
              colors={colors}
              empty={empty}
            />
            <TrafficChart
              testId="usage-chart-requests"
              title="Attempts and errors over time"
              metric="requests"
              rows={requestRows}
              ids={ids}
              names={names}
              colors={colors}
              empty={empty}
            />
          </div>
          <div className="usage__grid usage__grid--table">
            <section className="card" aria-labelledby="usage-providers-title">
              <h2 id="usage-providers-title" className="card__title">
                By provider
              </h2>
              <CountingNote where="usage" />
              {ids.length ? (
                <UsageProviderTable ids={ids} names={names} providers={data.providers} colors={colors} />
              ) : (
                <p className="muted">{NO_TRAFFIC}</p>
              )}
            </section>
            <LatencyChart data={data} ids={ids} names={names} />
          </div>
        </>
      ) : !analytics.error ? (
        <p className="muted" role="status">
          Loading analytics…
        </p>
      ) : null}

      <section className="card sessions" aria-labelledby="sessions-title" ref={sessionsCard}>
        <h2 id="sessions-title" className="card__title">
          Sessions
        </h2>
        {sessions.error ? (
          <p className="page__error" role="alert">
            Could not load the sessions: {sessions.error}
          </p>
        ) : null}
        <div className="sessions__body">
          {sessions.data !== null ? (
            <SessionList sessions={list} selected={selected} nowMs={data?.now_unix_ms ?? now} nameOf={n} onSelect={pick} />
          ) : sessions.error ? null : (
            <p className="muted" role="status">
              Loading sessions…
            </p>
          )}
          {timeline.data && timeline.data.session_id === selected ? (
            <SessionTimelineView timeline={timeline.data} colors={colors} nameOf={n} nowMs={data?.now_unix_ms ?? now} />
          ) : timeline.error ? (
            <p className="page__error" role="alert">
              Could not load the session: {timeline.error}
            </p>
          ) : selected ? (
            <p className="muted">Loading the session…</p>
          ) : null}
        </div>
      </section>
    </main>
  );
}
