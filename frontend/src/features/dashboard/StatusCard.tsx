import { memo, useRef } from 'react';
import type { ActionResult } from '../../hooks/useActions';
import { lockLabel } from '../../logic/health';
import { nameOf, type NameMap } from '../../logic/names';
import { preferredLabel } from '../../logic/routing';
import type { StatusSummary, TokenResult } from '../../types';
import { CopyButton } from '../../ui/CopyButton';
import { GatewayToken } from './GatewayToken';
import { countNoun } from '../../logic/format';
import { own } from '../../logic/own';

interface Props {
  gatewayUrl: string;
  names: NameMap;
  summary: StatusSummary | null;
  /** In effect (the first in the list when none is chosen); null while no provider can serve. */
  preferredProvider: string | null;
  /** As configured: "" = first in list. */
  explicitPreferred: string;
  manualOverride: string | null;
  activeProvider: string | null;
  activeReason: string;
  /** With automatic return off and a fallback serving: the preferred provider to offer going back to. */
  returnTo: string | null;
  /** ``chosen``: the preferred-provider setting as it is ("" = first in list). */
  onReturnTo: (provider: string, chosen: string) => void;
  requestsToday: number | null;
  token: string | null;
  onRotateToken: () => Promise<ActionResult<TokenResult>>;
  /** The gateway could not be reached since: the summary is the last one known, not the state now. */
  stale?: boolean;
}

const SUMMARY_TONE: Record<StatusSummary['state'], string> = {
  serving: 'ok',
  fallback: 'warn',
  down: 'bad',
  no_providers: 'muted',
};

/** The gateway card: where Codex connects, how it serves now, the preferred/locked/active provider, the token. */
export const StatusCard = memo(function StatusCard(p: Props) {
  const n = (id: string) => nameOf(p.names, id);
  const preferred =
    p.preferredProvider || p.explicitPreferred
      ? preferredLabel(p.explicitPreferred, p.preferredProvider ?? '', n, (id) => own(p.names, id) !== undefined)
      : '—';
  const activeLine = useRef<HTMLElement>(null);
  // The Active row's whole line, as its tooltip (cut with "…" on a wide screen).
  const activeText = p.activeProvider
    ? [n(p.activeProvider), p.activeReason].filter(Boolean).join(' · ')
    : p.summary?.provider
      ? `${n(p.summary.provider)} · next request`
      : 'none';
  const backToPreferred = (provider: string) => {
    // The button leaves with the fallback; the focus goes to the line that says who serves now, not the page.
    activeLine.current?.focus();
    p.onReturnTo(provider, p.explicitPreferred);
  };
  return (
    <section className="card card--status" aria-labelledby="status-title">
      <h2 id="status-title" className="card__title">
        Gateway
      </h2>
      <dl className="kv">
        <dt>Address</dt>
        <dd className="kv__row">
          <code className="mono ellipsis" title={p.gatewayUrl} data-testid="gateway-url">
            {p.gatewayUrl}
          </code>
          <CopyButton text={p.gatewayUrl} label="Copy gateway address" />
        </dd>
        {p.summary ? (
          <>
            <dt>Now</dt>
            <dd className="kv__line" data-testid="status-summary" data-state={p.summary.state}
              title={[p.summary.line, p.summary.reason].filter(Boolean).join(' · ') || undefined}>
              {p.stale ? (
                <span className="summary summary--muted" data-stale="true">
                  Last known: {p.summary.line} (the gateway is not answering now)
                </span>
              ) : (
                <span className={`summary summary--${own(SUMMARY_TONE, p.summary.state) ?? 'muted'}`}>{p.summary.line}</span>
              )}
              {/* The reason once: not when the banner shows it, nor when "Active" below says the same. */}
              {p.summary.reason && p.summary.state !== 'down' && p.summary.reason !== p.activeReason ? (
                <span className="muted"> · {p.summary.reason}</span>
              ) : null}
            </dd>
          </>
        ) : null}
        <dt>Preferred</dt>
        <dd className="kv__line" data-testid="status-preferred" title={preferred}>
          <span>{preferred}</span>
        </dd>
        <dt>Routing</dt>
        <dd className="kv__line" data-testid="status-lock" title={lockLabel(p.manualOverride, n)}>
          <span className={p.manualOverride ? 'lock lock--on' : 'lock'}>{lockLabel(p.manualOverride, n)}</span>
        </dd>
        <dt>Active</dt>
        <dd className="kv__line" data-testid="status-active" title={activeText} ref={activeLine} tabIndex={-1}>
          {p.activeProvider ? (
            <>
              <strong>{n(p.activeProvider)}</strong>
              {p.activeReason ? <span className="muted"> · {p.activeReason}</span> : null}
              {p.returnTo && !p.stale ? (
                <>
                  {' '}
                  <button type="button" className="btn btn--small" data-testid="return-to-preferred"
                    onClick={() => p.returnTo && backToPreferred(p.returnTo)}>
                    Back to {n(p.returnTo)}
                  </button>
                </>
              ) : null}
            </>
          ) : p.summary?.provider ? (
            // Routing starts afresh (no request yet, or after a lock or preferred change): where it goes next.
            <>
              <strong>{n(p.summary.provider)}</strong>
              <span className="muted"> · next request</span>
            </>
          ) : (
            <span className="muted">none</span>
          )}
        </dd>
        {p.requestsToday !== null ? (
          <>
            <dt>Today</dt>
            <dd data-testid="status-requests-today">
              {countNoun(p.requestsToday, 'request')}{' '}
              <a href="#/requests" className="small">
                see them
              </a>
            </dd>
          </>
        ) : null}
        <dt>Token</dt>
        <dd>
          <GatewayToken token={p.token} onRotate={p.onRotateToken} />
        </dd>
      </dl>
    </section>
  );
});
