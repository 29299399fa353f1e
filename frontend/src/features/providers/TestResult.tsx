import { countNoun, formatDateTime, formatLatency } from '../../logic/format';
import { stepLabel, testBadges } from '../../logic/providerTest';
import { Badge } from '../../ui/Badge';
import { IconButton } from '../../ui/IconButton';
import type { TestState } from './useProviderTests';

/** A provider test's outcome, inline under the provider's row: timings, capabilities, models, steps. */
export function TestResult({ id, name, state, onClose }: { id: string; name: string; state: TestState; onClose: () => void }) {
  const outcome = state.loading ? '' : 'error' in state || !state.result.ok ? ' probe--failed' : ' probe--passed';
  return (
    <div className={`probe probe--test${outcome}`} role="group" aria-label={`Test result for ${name}`} data-testid={`test-result-${id}`}>
      <strong className="probe__title" title={`Test ${name}`}>
        Test {name}
      </strong>
      {state.loading ? (
        <span className="muted">Testing: a streamed request, a tool call and the model list…</span>
      ) : 'error' in state ? (
        <span className="text-bad wrap">{state.error}</span>
      ) : (
        <>
          <Badge tone={state.result.ok ? 'ok' : 'bad'}>{state.result.ok ? 'Passed' : 'Failed'}</Badge>
          <span>
            <span className="muted">latency </span>
            <span data-testid={`test-latency-${id}`}>{formatLatency(state.result.latency_ms)}</span>
          </span>
          <span>
            <span className="muted">first event </span>
            {formatLatency(state.result.first_event_ms)}
          </span>
          {testBadges(state.result)
            .filter((b) => b.key === 'streaming' || b.key === 'tools')
            .map((b) => (
              <Badge key={b.key} tone={b.tone} title={b.title}>
                {b.key === 'streaming' ? 'Streaming' : 'Tool calls'} {b.text.slice(-1)}
              </Badge>
            ))}
          <span className="muted small" title={formatDateTime(state.result.unix_ms)}>
            model {state.result.model}
          </span>
          {state.result.error ? <span className="text-bad wrap probe__error">{state.result.error}</span> : null}
          <ol className="test-steps" aria-label={`Steps of the test of ${name}`}>
            {state.result.steps.map((s) => (
              <li key={s.name} className={s.ok === false ? 'text-bad' : s.ok === null ? 'muted' : undefined}>
                {s.ok === null ? '–' : s.ok ? '✓' : '✗'} {stepLabel(s.name)}
                {s.status !== null ? ` · HTTP ${s.status}` : ''}
                {s.latency_ms !== null ? ` · ${formatLatency(s.latency_ms)}` : ''}
                {s.error ? ` · ${s.error}` : ''}
              </li>
            ))}
          </ol>
          {state.result.models.length ? (
            // Open: the model list is part of what a test shows (it can still be folded away).
            <details className="test-models" open>
              <summary>
                {countNoun(state.result.models.length, 'model')}
              </summary>
              <p className="mono wrap-anywhere" data-testid={`test-models-${id}`}>
                {state.result.models.join(', ')}
              </p>
            </details>
          ) : null}
        </>
      )}
      <IconButton icon="x" label={`Close test result for ${name}`} className="probe__close" onClick={onClose} />
    </div>
  );
}
