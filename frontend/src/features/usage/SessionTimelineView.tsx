import { memo } from 'react';
import { attemptPath, modelPath, outcomeLabel, shortSessionId, timelineItems } from '../../logic/analytics';
import { countNoun, dayLabel, formatClock, formatCount, formatDateTime, formatLatency } from '../../logic/format';
import { routeHash } from '../../logic/route';
import type { ProviderId, SessionTimeline } from '../../types';
import { own } from '../../logic/own';

interface Props {
  timeline: SessionTimeline;
  colors: Record<ProviderId, string>;
  nameOf: (id: ProviderId) => string;
  /** The server's "now": a request from another day shows its day (a session may span several). */
  nowMs: number;
}

/**
 * One session's requests in order, under column headers: who served each, model, status, latency,
 * time to first byte, tokens; failovers, switches and hedges are marked, and every failed attempt is
 * listed with its error. A table to assistive technology (table / row / columnheader / cell roles) laid
 * out with CSS grid, so the columns can narrow with the window; a request's failed attempts are a row
 * of their own, under it, like the Requests page's attempt chain.
 */
export const SessionTimelineView = memo(function SessionTimelineView({ timeline, colors, nameOf, nowMs }: Props) {
  const total = Math.max(timeline.total ?? 0, timeline.requests.length);
  const items = timelineItems(timeline.requests, total);
  const short = shortSessionId(timeline.session_id);
  return (
    <div className="timeline" data-testid="session-timeline" data-session-id={timeline.session_id}>
      <h3 className="timeline__title">
        Session <code className="mono" title={timeline.session_id}>{short}</code>
        {timeline.provider ? (
          <span
            className="timeline__provider"
            data-testid="timeline-provider"
            title={`${timeline.bound ? 'Bound to' : 'Last served by'} ${nameOf(timeline.provider)}`}
          >
            {' '}
            {timeline.bound ? 'on' : 'last on'} {nameOf(timeline.provider)}
          </span>
        ) : null}
        <span className="muted">
          {' '}
          ·{' '}
          {total > items.length
            ? `the newest ${items.length.toLocaleString('en-US')} of ${countNoun(total, 'request')}`
            : countNoun(items.length, 'request')}{' '}
          ·{' '}
        </span>
        <a href={routeHash('requests', { session: timeline.session_id })} className="small">
          see them on the Requests page
        </a>
      </h3>
      {items.length === 0 ? (
        <p className="muted">No requests recorded for this session.</p>
      ) : (
        <div className="timeline__box" role="table" aria-label={`Requests of session ${short}`}>
          <div className="tl__main tl__head" role="row">
            <span role="columnheader" title="Request number in the session">
              #
            </span>
            <span role="columnheader">Time</span>
            <span role="columnheader">Provider</span>
            <span role="columnheader">Model</span>
            <span role="columnheader">Status</span>
            <span role="columnheader" className="tl__num">
              Latency
            </span>
            <span role="columnheader" className="tl__num" title="Time to first byte">
              TTFB
            </span>
            <span role="columnheader" className="tl__num">
              Tokens
            </span>
            <span role="columnheader" aria-label="Marks" title="Failover, hedged, switched" />
          </div>
          <ol className="timeline__list" role="rowgroup">
            {items.map((it) => {
              const e = it.entry;
              const day = dayLabel(e.unix_ms, nowMs);
              return (
                <li
                  key={e.id}
                  role="none"
                  className={`tl${it.ok ? '' : ' tl--bad'}${e.failover ? ' tl--failover' : ''}`}
                  data-testid={`timeline-entry-${it.n}`}
                  data-request-id={e.id}
                  data-provider={e.provider ?? ''}
                  data-failover={e.failover}
                  data-switched={e.switched}
                >
                  <div className="tl__main" role="row">
                    <span className="tl__n" role="cell">
                      #{it.n}
                    </span>
                    <span className="tl__time" role="cell" title={formatDateTime(e.unix_ms)}>
                      {day !== null ? <span className="tl__day">{day}</span> : null}
                      {formatClock(e.unix_ms)}
                    </span>
                    <span className="tl__provider" role="cell" title={e.attempts.length > 1 ? `Tried ${attemptPath(e, nameOf)}` : undefined}>
                      {e.provider ? (
                        <>
                          <span className="swatch" style={{ background: own(colors, e.provider) }} aria-hidden="true" />
                          <span className="wrap">{nameOf(e.provider)}</span>
                        </>
                      ) : (
                        <span className="text-bad">no provider</span>
                      )}
                    </span>
                    <span className="tl__model mono wrap" role="cell">
                      {modelPath(e.model, e.sent_model)}
                    </span>
                    <span className={`tl__status${it.ok ? '' : ' text-bad'}`} role="cell" title="HTTP status">
                      {e.status}
                    </span>
                    <span className="tl__num" role="cell" title="Latency">
                      {formatLatency(e.latency_ms)}
                    </span>
                    <span className="tl__num muted" role="cell" title="Time to first byte">
                      {e.ttfb_ms === null ? '—' : formatLatency(e.ttfb_ms)}
                    </span>
                    <span className="tl__num" role="cell" title={`${e.total_tokens} tokens`}>
                      {formatCount(e.total_tokens)}
                    </span>
                    <span className="tl__marks" role="cell">
                      {e.failover ? (
                        <span className="badge badge--warn badge--xs" title={`Tried ${attemptPath(e, nameOf)}`}>
                          failover
                        </span>
                      ) : null}
                      {e.hedged ? (
                        <span className="badge badge--neutral badge--xs" title="A hedge started a second provider">
                          hedged
                        </span>
                      ) : null}
                      {e.switched ? (
                        <span className="badge badge--neutral badge--xs">
                          switched{it.switchedFrom ? ` from ${nameOf(it.switchedFrom)}` : ''}
                        </span>
                      ) : null}
                    </span>
                  </div>
                  {it.failed.length > 0 || (!it.ok && e.error) ? (
                    <div className="tl__more" role="row">
                      <div role="cell" aria-colspan={9}>
                        <ul className="tl__attempts">
                          {it.failed.map((a, i) => (
                            <li key={i}>
                              {nameOf(a.provider)} {outcomeLabel(a.outcome)}
                              {a.status ? ` (HTTP ${a.status})` : ''} after {formatLatency(a.latency_ms)}
                              {a.error ? `: ${a.error}` : ''}
                            </li>
                          ))}
                          {!it.ok && e.error ? <li className="text-bad">{e.error}</li> : null}
                        </ul>
                      </div>
                    </div>
                  ) : null}
                </li>
              );
            })}
          </ol>
        </div>
      )}
    </div>
  );
});
