import { memo } from 'react';
import { Bar, CartesianGrid, ComposedChart, Legend, Line, Tooltip, XAxis, YAxis } from 'recharts';
import { ERROR_COLOR, formatInt, type ChartRow, type SeriesMetric } from '../../logic/analytics';
import { formatCount } from '../../logic/format';
import { nameOf, type NameMap } from '../../logic/names';
import type { ProviderId } from '../../types';
import { AXIS_TICK, ChartFrame, LEGEND_STYLE, TOOLTIP_STYLE, legendLabel } from './charts';
import { own } from '../../logic/own';

interface Props {
  testId: string;
  title: string;
  metric: SeriesMetric;
  rows: ChartRow[];
  ids: readonly ProviderId[];
  names: NameMap;
  colors: Record<ProviderId, string>;
  empty?: string | null;
}

/**
 * Stacked bars per provider over time (tokens served, or attempts); the attempts chart adds a line
 * of failed attempts across all providers. Legends name providers by display name.
 */
export const TrafficChart = memo(function TrafficChart({ testId, title, metric, rows, ids, names, colors, empty }: Props) {
  return (
    <ChartFrame testId={testId} title={title} empty={empty}>
      <ComposedChart aria-label={`${title}, per provider`} data={rows} margin={{ top: 6, right: 8, bottom: 0, left: 0 }} barCategoryGap="18%">
        <CartesianGrid vertical={false} strokeDasharray="3 3" />
        <XAxis dataKey="label" tick={AXIS_TICK} tickLine={false} minTickGap={16} />
        <YAxis
          width={44}
          tick={AXIS_TICK}
          tickLine={false}
          axisLine={false}
          allowDecimals={false}
          tickFormatter={(v: number) => formatCount(v)}
        />
        <Tooltip {...TOOLTIP_STYLE} formatter={(v) => formatInt(Number(v))} cursor={{ fillOpacity: 0.08 }} />
        <Legend wrapperStyle={LEGEND_STYLE} iconSize={10} formatter={legendLabel} />
        {ids.map((id) => (
          <Bar
            key={id}
            name={nameOf(names, id)}
            dataKey={(row: ChartRow) => row.byProvider.get(id) ?? 0}
            stackId={metric}
            fill={own(colors, id)}
            isAnimationActive={false}
          />
        ))}
        {metric === 'requests' ? (
          <Line
            name="failed attempts"
            dataKey="errors"
            type="linear"
            stroke={ERROR_COLOR}
            strokeWidth={2}
            dot={false}
            isAnimationActive={false}
          />
        ) : null}
      </ComposedChart>
    </ChartFrame>
  );
});
