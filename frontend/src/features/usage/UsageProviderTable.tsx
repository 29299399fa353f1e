import { memo } from 'react';
import { errorRate, formatInt } from '../../logic/analytics';
import { formatLatency } from '../../logic/format';
import { nameOf, type NameMap } from '../../logic/names';
import type { ProviderId, TrafficStats } from '../../types';
import { own } from '../../logic/own';

interface Props {
  ids: readonly ProviderId[];
  names: NameMap;
  providers: Record<ProviderId, TrafficStats>;
  colors: Record<ProviderId, string>;
}

const P = ['p50', 'p90', 'p99'] as const;

/**
 * Per provider: attempts (a failover counts one failed attempt for one provider and one served
 * for the next), tokens it served, and its own latency and TTFB percentiles.
 */
export const UsageProviderTable = memo(function UsageProviderTable({ ids, names, providers, colors }: Props) {
  return (
    <div className="table-wrap">
      <table className="utable" aria-label="Usage by provider">
        <thead>
          <tr>
            <th scope="col" rowSpan={2}>
              Provider
            </th>
            <th scope="col" rowSpan={2} className="num" title="Attempts sent to this provider (a failover is one attempt at each provider tried)">
              Attempts
            </th>
            <th scope="col" rowSpan={2} className="num" title="Attempts that failed at this provider">
              Failed
            </th>
            <th scope="colgroup" colSpan={3} className="center">
              Tokens
            </th>
            <th scope="colgroup" colSpan={3} className="center">
              Latency
            </th>
            <th scope="colgroup" colSpan={3} className="center" title="Time to first byte">
              TTFB
            </th>
          </tr>
          <tr>
            <th scope="col" className="num">
              Input
            </th>
            <th scope="col" className="num">
              Output
            </th>
            <th scope="col" className="num">
              Total
            </th>
            {P.map((p) => (
              <th key={`l${p}`} scope="col" className="num">
                {p}
              </th>
            ))}
            {P.map((p) => (
              <th key={`t${p}`} scope="col" className="num">
                {p}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {ids.map((id) => {
            const s = own(providers, id);
            if (!s) return null;
            return (
              <tr key={id} data-testid={`usage-provider-row-${id}`} data-provider-id={id}>
                <th scope="row" className="utable__name">
                  <span className="swatch" style={{ background: own(colors, id) }} aria-hidden="true" />
                  {nameOf(names, id)}
                </th>
                <td className="num" data-col="requests">
                  {formatInt(s.requests)}
                </td>
                <td
                  className={`num${s.errors > 0 ? ' text-bad' : ''}`}
                  data-col="errors"
                  title={s.requests ? `${errorRate(s)} of attempts` : undefined}
                >
                  {formatInt(s.errors)}
                </td>
                <td className="num" data-col="input_tokens" title={`${formatInt(s.cached_tokens)} cached`}>
                  {formatInt(s.input_tokens)}
                </td>
                <td className="num" data-col="output_tokens" title={`${formatInt(s.reasoning_tokens)} reasoning`}>
                  {formatInt(s.output_tokens)}
                </td>
                <td className="num" data-col="total_tokens">
                  {formatInt(s.total_tokens)}
                </td>
                {P.map((p) => (
                  <td key={`l${p}`} className="num" data-col={`latency_${p}`}>
                    {formatLatency(s.latency_ms[p])}
                  </td>
                ))}
                {P.map((p) => (
                  <td key={`t${p}`} className="num" data-col={`ttfb_${p}`}>
                    {formatLatency(s.ttfb_ms[p])}
                  </td>
                ))}
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
});
