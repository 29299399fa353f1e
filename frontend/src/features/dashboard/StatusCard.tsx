import { memo } from 'react';
import { lockLabel } from '../../logic/health';
import { CopyButton } from '../../ui/CopyButton';
import { GatewayToken } from './GatewayToken';

interface Props {
  gatewayUrl: string;
  preferredProvider: string;
  manualOverride: string | null;
  activeProvider: string | null;
  activeReason: string;
  token: string | null;
  onRotateToken: () => Promise<unknown>;
}

export const StatusCard = memo(function StatusCard(p: Props) {
  return (
    <section className="card" aria-labelledby="status-title">
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
        <dt>Preferred</dt>
        <dd data-testid="status-preferred">{p.preferredProvider || '—'}</dd>
        <dt>Routing</dt>
        <dd data-testid="status-lock">
          <span className={p.manualOverride ? 'lock lock--on' : 'lock'}>{lockLabel(p.manualOverride)}</span>
        </dd>
        <dt>Active</dt>
        <dd data-testid="status-active" className="ellipsis" title={p.activeReason}>
          {p.activeProvider ? (
            <>
              <strong>{p.activeProvider}</strong>
              {p.activeReason ? <span className="muted"> · {p.activeReason}</span> : null}
            </>
          ) : (
            <span className="muted">no request yet</span>
          )}
        </dd>
        <dt>Token</dt>
        <dd>
          <GatewayToken token={p.token} onRotate={p.onRotateToken} />
        </dd>
      </dl>
    </section>
  );
});
