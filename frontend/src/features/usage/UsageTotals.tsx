import { memo } from 'react';
import { TOTALS, errorRate, formatInt } from '../../logic/analytics';
import { formatCount, formatLatency } from '../../logic/format';
import type { Percentiles, TrafficStats } from '../../types';

/** Overall requests, errors and tokens for the window, plus latency and TTFB percentiles. */
export const UsageTotals = memo(function UsageTotals({ overall }: { overall: TrafficStats }) {
  return (
    <dl className="totals" aria-label="Totals">
      {TOTALS.map((t) => (
        <div key={t.key} className={`total${t.key === 'errors' && overall.errors > 0 ? ' total--bad' : ''}`}>
          <dt>{t.label}</dt>
          {t.tokens ? (
            // k, M, B, T as every token figure reads (a 30-day total has nine digits and more); exact in the
            // tooltip and for screen readers.
            <dd title={`${formatInt(overall[t.key])} tokens`}>
              <span data-testid={t.testId} aria-hidden="true">
                {formatCount(overall[t.key])}
              </span>
              <span className="sr-only">{formatInt(overall[t.key])}</span>
            </dd>
          ) : (
            <dd data-testid={t.testId}>{formatInt(overall[t.key])}</dd>
          )}
          {t.key === 'errors' && overall.requests > 0 ? (
            <span className="total__note">{errorRate(overall)} of requests</span>
          ) : null}
        </div>
      ))}
      <div className="total total--wide">
        <dt>p50 / p90 / p99</dt>
        <dd>
          <span className="total__key">Latency</span>
          <span data-testid="usage-overall-latency">{percentileText(overall.latency_ms)}</span>
        </dd>
        <dd>
          <span className="total__key">TTFB</span>
          <span data-testid="usage-overall-ttfb">{percentileText(overall.ttfb_ms)}</span>
        </dd>
      </div>
    </dl>
  );
});

function percentileText(p: Percentiles): string {
  return [p.p50, p.p90, p.p99].map(formatLatency).join(' / ');
}
