import { Fragment, memo } from 'react';
import type { Bridge } from '../../bridge';
import { modelPath, shortSessionId } from '../../logic/analytics';
import { formatCount, formatDateTime, formatLatency, formatRowTime } from '../../logic/format';
import { outcomeBadge, providerCell } from '../../logic/requests';
import { routeHash } from '../../logic/route';
import type { ProviderId, RequestRow } from '../../types';
import { useFocusFallback } from '../../hooks/useFocusFallback';
import { Icon } from '../../ui/Icon';
import { RequestDetailView } from './RequestDetailView';

interface Props {
  bridge: Bridge;
  rows: readonly RequestRow[];
  open: ReadonlySet<number>;
  nameOf: (id: ProviderId) => string;
  /** Changes when a provider id goes (renamed or deleted): open requests read their attempts again. */
  providersGone: number;
  onToggle: (row: RequestRow) => void;
  /** Where the focus goes when a row holding it leaves the page. */
  focusLost: () => HTMLElement | null;
  /** Now (server clock): rows from another day show their day too. */
  nowMs: number;
  /** What an empty page says (default: that nothing matches the filters). */
  emptyText?: string;
}

const COLUMNS = 9;

/** Requests, newest first; a row opens into its attempt chain. TTFT folds away on narrow windows; the session link stays. */
export function RequestsTable({
  bridge,
  rows,
  open,
  nameOf,
  providersGone,
  onToggle,
  focusLost,
  nowMs,
  emptyText = 'No requests match.',
}: Props) {
  return (
    <div className="table-wrap">
      <table className="rtable" aria-label="Requests">
        <thead>
          <tr>
            <th scope="col">Time</th>
            <th scope="col">Provider</th>
            <th scope="col" title="As requested → as sent to the provider (model map)">
              Model
            </th>
            <th scope="col">Status</th>
            <th scope="col" className="num">
              Latency
            </th>
            <th scope="col" className="num col-opt" title="Time to first token (first byte of the answer)">
              TTFT
            </th>
            <th scope="col" className="num">
              Tokens
            </th>
            <th scope="col" className="num" title="Number of attempts: providers tried for this request (a failover is one request with two attempts)">
              Attempts
            </th>
            <th scope="col">Session</th>
          </tr>
        </thead>
        <tbody>
          {rows.length === 0 ? (
            <tr>
              <td colSpan={COLUMNS} className="empty">
                {emptyText}
              </td>
            </tr>
          ) : (
            rows.map((r) => (
              <Fragment key={r.id}>
                <Row
                  row={r}
                  time={formatRowTime(r.unix_ms, nowMs)}
                  expanded={open.has(r.id)}
                  nameOf={nameOf}
                  onToggle={onToggle}
                  focusLost={focusLost}
                />
                {open.has(r.id) ? (
                  <tr className="rtable__detail">
                    <td colSpan={COLUMNS}>
                      <RequestDetailView bridge={bridge} row={r} nameOf={nameOf} providersGone={providersGone} />
                    </td>
                  </tr>
                ) : null}
              </Fragment>
            ))
          )}
        </tbody>
      </table>
    </div>
  );
}

const Row = memo(function Row({
  row: r,
  time,
  expanded,
  nameOf,
  onToggle,
  focusLost,
}: {
  row: RequestRow;
  /** The row's time as shown ("14:03:09", "Dec 2 14:03:09"). */
  time: string;
  expanded: boolean;
  nameOf: (id: ProviderId) => string;
  onToggle: (row: RequestRow) => void;
  focusLost: () => HTMLElement | null;
}) {
  const rowRef = useFocusFallback<HTMLTableRowElement>(focusLost);
  const outcome = outcomeBadge(r);
  const failover = r.failover;
  const provider = providerCell(r, nameOf);
  return (
    <tr
      ref={rowRef}
      className={`rrow rrow--${r.outcome}${expanded ? ' rrow--open' : ''}`}
      data-testid={`request-row-${r.id}`}
      data-outcome={r.outcome}
      data-provider={r.provider ?? ''}
      onClick={(e) => {
        // The whole row opens it; its own button and links act for themselves, and selecting text does not toggle.
        if ((e.target as Element).closest('a, button') || window.getSelection()?.toString()) return;
        onToggle(r);
      }}
    >
      <td className="rrow__time">
        <button
          type="button"
          className="rrow__toggle"
          aria-expanded={expanded}
          // Starts with the time it shows (WCAG 2.5.3: a speech user says what they see).
          aria-label={`${time}, ${expanded ? 'close' : 'open'} request ${r.request_id}`}
          title={formatDateTime(r.unix_ms)}
          onClick={() => onToggle(r)}
        >
          <Icon name={expanded ? 'down' : 'chevron-right'} size={12} />
          <span className="mono">{time}</span>
        </button>
      </td>
      <td className="rrow__provider">
        {provider.served ?? (
          <>
            <span className="text-bad">none</span> <span className="muted">· {provider.tried}</span>
          </>
        )}
      </td>
      <td className="mono rrow__model">{modelPath(r.model, r.sent_model)}</td>
      <td>
        <div className="rrow__status">
          <span className={`badge badge--xs badge--${outcome.tone}`} title={r.error ?? undefined}>
            {r.status ?? '—'} {outcome.label}
          </span>
          {failover ? <span className="badge badge--warn badge--xs">failover</span> : null}
          {r.hedged ? (
            <span className="badge badge--neutral badge--xs" title="A hedge started a second provider" data-testid={`hedged-${r.id}`}>
              hedged
            </span>
          ) : null}
        </div>
      </td>
      <td className="num">{formatLatency(r.latency_ms)}</td>
      <td className="num col-opt">{formatLatency(r.ttfb_ms)}</td>
      <td className="num" title={`${r.input_tokens} in, ${r.output_tokens} out, ${r.cached_tokens} cached, ${r.reasoning_tokens} reasoning`}>
        {formatCount(r.total_tokens)}
      </td>
      <td className={`num${r.attempts > 1 ? ' text-warn' : ''}`} data-col="attempts">
        {r.attempts}
      </td>
      <td>
        {r.session_id ? (
          <a className="mono" href={routeHash('usage', { session: r.session_id })} title={`Session ${r.session_id} on the Usage page`}>
            {shortSessionId(r.session_id)}
          </a>
        ) : (
          <span className="muted">—</span>
        )}
      </td>
    </tr>
  );
});
