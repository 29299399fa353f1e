import type { Bridge } from '../../bridge';
import { modelPath } from '../../logic/analytics';
import { formatCount, formatDateTime, formatLatency } from '../../logic/format';
import { chainOutcome, formatBytes, retryBadge, retryLabel } from '../../logic/requests';
import { routeHash } from '../../logic/route';
import type { ProviderId, RequestRow } from '../../types';
import { Badge } from '../../ui/Badge';
import { CopyButton } from '../../ui/CopyButton';
import { useRequestDetail } from './useRequests';

interface Props {
  bridge: Bridge;
  row: RequestRow;
  nameOf: (id: ProviderId) => string;
  /** Changes when a provider id goes (renamed or deleted): the attempts are read again. */
  providersGone: number;
}

/** One request opened: ids, sizes, tokens, the error in full, and every attempt in order. */
export function RequestDetailView({ bridge, row, nameOf, providersGone }: Props) {
  const detail = useRequestDetail(bridge, row.id, providersGone);
  const chain = detail.data?.attempt_chain ?? null;
  return (
    <div className="reqd" role="group" aria-label={`Request ${row.request_id}`} data-testid={`request-detail-${row.id}`}>
      <dl className="reqd__facts">
        <div>
          <dt>Request id</dt>
          <dd className="kv__row">
            <code className="mono wrap-anywhere">{row.request_id}</code>
            <CopyButton text={row.request_id} label="Copy request id" />
          </dd>
        </div>
        <div>
          <dt>When</dt>
          <dd>{formatDateTime(row.unix_ms)}</dd>
        </div>
        <div>
          <dt>Path</dt>
          <dd className="mono">
            {row.path}
            {row.stream ? ' (stream)' : ''}
          </dd>
        </div>
        <div>
          <dt>Model</dt>
          <dd className="mono wrap-anywhere">{modelPath(row.model, row.sent_model)}</dd>
        </div>
        <div>
          <dt>Session</dt>
          <dd>
            {row.session_id ? (
              <a className="mono wrap-anywhere" href={routeHash('usage', { session: row.session_id })}>
                {row.session_id}
              </a>
            ) : (
              <span className="muted">none</span>
            )}
          </dd>
        </div>
        <div>
          <dt>Sizes</dt>
          <dd data-testid={`request-sizes-${row.id}`}>
            request {formatBytes(row.request_bytes)} · response {formatBytes(row.response_bytes)}
          </dd>
        </div>
        <div>
          <dt>Tokens</dt>
          <dd>
            {formatCount(row.input_tokens)} in ({formatCount(row.cached_tokens)} cached) · {formatCount(row.output_tokens)} out (
            {formatCount(row.reasoning_tokens)} reasoning)
          </dd>
        </div>
      </dl>
      {row.error ? (
        <div className="reqd__error">
          <p className="text-bad wrap" data-testid={`request-error-${row.id}`}>
            {row.error}
          </p>
          <CopyButton text={row.error} label="Copy error" />
        </div>
      ) : null}
      {detail.error ? (
        <p className="page__error" role="alert">
          Could not load the attempts: {detail.error}
        </p>
      ) : !chain ? (
        <p className="muted">Loading the attempts…</p>
      ) : chain.length === 0 ? (
        <p className="muted" data-testid={`no-attempts-${row.id}`}>
          No provider was asked: the request was answered by API Router itself (see the error above).
        </p>
      ) : (
        <div className="table-wrap">
          <table className="chain" aria-label={`Attempts of request ${row.request_id}`}>
            <thead>
              <tr>
                <th scope="col">#</th>
                <th scope="col">Provider</th>
                <th scope="col">Outcome</th>
                <th scope="col" className="num">
                  HTTP
                </th>
                <th scope="col" className="num">
                  Latency
                </th>
                <th scope="col" className="num">
                  TTFB
                </th>
                <th scope="col">Sent model</th>
                <th scope="col">Error</th>
              </tr>
            </thead>
            <tbody>
              {chain.map((a, i) => {
                const o = chainOutcome(a);
                const retry = retryLabel(a.retry);
                return (
                  <tr key={i} data-testid={`attempt-${row.id}-${i + 1}`} data-outcome={a.outcome}>
                    <td className="muted">{i + 1}</td>
                    <td>{nameOf(a.provider)}</td>
                    <td>
                      <span className="chain__marks">
                        <Badge tone={o.tone}>{o.label}</Badge>
                        {a.hedge ? (
                          <span className="badge badge--neutral badge--xs" title="Started by the hedge timer">
                            hedge
                          </span>
                        ) : null}
                        {a.summary ? (
                          <span
                            className="badge badge--neutral badge--xs"
                            title="Asked this provider for a summary of a conversation compacted by another provider; its tokens count"
                          >
                            summary
                          </span>
                        ) : null}
                        {retry ? (
                          <span className="badge badge--warn badge--xs" title={retry}>
                            {retryBadge(a.retry)}
                          </span>
                        ) : null}
                      </span>
                    </td>
                    <td className="num">{a.status ?? '—'}</td>
                    <td className="num">{formatLatency(a.latency_ms)}</td>
                    <td className="num">{formatLatency(a.ttfb_ms)}</td>
                    <td className="mono wrap-anywhere">{a.sent_model ?? '—'}</td>
                    <td className="chain__error">
                      {a.error ? (
                        <span className="kv__row">
                          <span className="text-bad wrap">{a.error}</span>
                          <CopyButton text={a.error} label={`Copy the error of attempt ${i + 1}`} />
                        </span>
                      ) : (
                        <span className="muted">—</span>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}
