import { memo, useState } from 'react';
import { Bar, BarChart, CartesianGrid, Legend, Tooltip, XAxis, YAxis } from 'recharts';
import { PERCENTILE_COLORS, percentileRows } from '../../logic/analytics';
import { formatLatency } from '../../logic/format';
import { nameOf, type NameMap } from '../../logic/names';
import type { Analytics, ProviderId } from '../../types';
import { AXIS_TICK, ChartFrame, LEGEND_STYLE, NameTick, TOOLTIP_STYLE } from './charts';

type Measure = 'latency_ms' | 'ttfb_ms';
const MEASURES: { value: Measure; label: string }[] = [
  { value: 'latency_ms', label: 'Latency' },
  { value: 'ttfb_ms', label: 'TTFB' },
];

/** p50/p90/p99 per provider as grouped bars; latency of its own attempts, or time to first byte. */
export const LatencyChart = memo(function LatencyChart({
  data,
  ids,
  names,
}: {
  data: Analytics;
  ids: readonly ProviderId[];
  names: NameMap;
}) {
  const [measure, setMeasure] = useState<Measure>('latency_ms');
  const rows = percentileRows(data, ids, measure).map((r) => ({ ...r, name: nameOf(names, r.provider) }));
  return (
    <ChartFrame
      testId="usage-chart-latency"
      title="Latency percentiles"
      empty={rows.length ? null : 'No measurements in this window'}
      tools={
        <div className="segmented segmented--small" role="group" aria-label="Latency measure">
          {MEASURES.map((m) => (
            <button
              key={m.value}
              type="button"
              className="segmented__btn"
              aria-pressed={measure === m.value}
              onClick={() => setMeasure(m.value)}
            >
              {m.label}
            </button>
          ))}
        </div>
      }
    >
      <BarChart aria-label="Latency percentiles per provider" data={rows} margin={{ top: 6, right: 8, bottom: 0, left: 0 }} barCategoryGap="24%">
        <CartesianGrid vertical={false} strokeDasharray="3 3" />
        {/* Every provider's name under its bars, cut to its slot (the whole name is the tick's title
            and the tooltip's label). */}
        <XAxis dataKey="name" tick={NameTick} tickLine={false} interval={0} />
        <YAxis
          width={52}
          tick={AXIS_TICK}
          tickLine={false}
          axisLine={false}
          allowDecimals={false} // a 0.75 ms gridline would read "1 ms", as would the one at 1.5 ms
          tickFormatter={(v: number) => formatLatency(v)}
        />
        <Tooltip {...TOOLTIP_STYLE} formatter={(v) => formatLatency(Number(v))} cursor={{ fillOpacity: 0.08 }} />
        <Legend wrapperStyle={LEGEND_STYLE} iconSize={10} />
        {(['p50', 'p90', 'p99'] as const).map((p) => (
          <Bar key={p} name={p} dataKey={p} fill={PERCENTILE_COLORS[p]} isAnimationActive={false} />
        ))}
      </BarChart>
    </ChartFrame>
  );
});
