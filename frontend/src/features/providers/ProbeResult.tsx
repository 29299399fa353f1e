import { formatLatency } from '../../logic/format';
import type { Probe } from '../../types';
import type { RunState } from './useResultsById';
import { Badge } from '../../ui/Badge';
import { IconButton } from '../../ui/IconButton';

export type ProbeState = RunState<Probe>;

interface Props {
  id: string;
  name: string;
  state: ProbeState;
  /** The provider stopped answering requests: a models list does not bring it back. */
  unresponsive: boolean;
  onClose: () => void;
}

/** The last probe's outcome, shown inline in a strip under the provider's row. */
export function ProbeResult({ id, name, state, unresponsive, onClose }: Props) {
  return (
    <div className="probe" role="group" aria-label={`Probe result for ${name}`} data-testid={`probe-result-${id}`}>
      <strong className="probe__title" title={`Probe ${name}`}>
        Probe {name}
      </strong>
      {state.loading ? (
        <span className="muted">Probing…</span>
      ) : 'error' in state ? (
        <span className="text-bad wrap">{state.error}</span>
      ) : (
        <>
          <Badge tone={state.result.ok ? 'ok' : 'bad'}>{state.result.ok ? 'OK' : 'Failed'}</Badge>
          <span>
            <span className="muted">HTTP </span>
            <span data-testid={`probe-status-${id}`}>{state.result.status ?? '—'}</span>
          </span>
          <span>
            <span className="muted">latency </span>
            {formatLatency(state.result.latency_ms)}
          </span>
          <span title={state.result.models.join('\n')}>
            <span className="muted">models </span>
            {state.result.models.length}
            {state.result.models.length ? <span className="muted"> ({state.result.models.join(', ')})</span> : null}
          </span>
          {state.result.error ? <span className="text-bad wrap probe__error">{state.result.error}</span> : null}
          {state.result.ok && unresponsive ? (
            <span className="text-warn wrap" data-testid={`probe-still-out-${id}`}>
              Still out of rotation: it lists its models but did not answer a request in time. A background check or
              Test that gets an answer brings it back.
            </span>
          ) : null}
        </>
      )}
      <IconButton icon="x" label={`Close probe result for ${name}`} className="probe__close" onClick={onClose} />
    </div>
  );
}
