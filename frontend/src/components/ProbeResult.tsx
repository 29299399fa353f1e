import { formatLatency, truncate } from '../logic/format';
import type { Probe } from '../types';
import { Badge } from './Badge';
import { IconButton } from './IconButton';

export type ProbeState = { loading: true } | { loading: false; result: Probe } | { loading: false; error: string };

/** Small popover under a provider row with the last probe's outcome. */
export function ProbeResult({ id, state, onClose }: { id: string; state: ProbeState; onClose: () => void }) {
  return (
    <div className="popover" role="group" aria-label={`Probe result for ${id}`} data-testid={`probe-result-${id}`}>
      <div className="popover__head">
        <strong>Probe {id}</strong>
        <IconButton icon="x" label={`Close probe result for ${id}`} onClick={onClose} />
      </div>
      {state.loading ? (
        <p className="muted">Probing…</p>
      ) : 'error' in state ? (
        <p className="text-bad">{state.error}</p>
      ) : (
        <dl className="kv kv--tight">
          <dt>Result</dt>
          <dd>
            <Badge tone={state.result.ok ? 'ok' : 'bad'}>{state.result.ok ? 'OK' : 'Failed'}</Badge>
          </dd>
          <dt>Status</dt>
          <dd>{state.result.status ?? '—'}</dd>
          <dt>Latency</dt>
          <dd>{formatLatency(state.result.latency_ms)}</dd>
          <dt>Models</dt>
          <dd title={state.result.models.join('\n')}>
            {state.result.models.length}
            {state.result.models.length ? (
              <span className="muted"> · {truncate(state.result.models.slice(0, 3).join(', '), 40)}</span>
            ) : null}
          </dd>
          {state.result.error ? (
            <>
              <dt>Error</dt>
              <dd className="text-bad wrap">{state.result.error}</dd>
            </>
          ) : null}
        </dl>
      )}
    </div>
  );
}
