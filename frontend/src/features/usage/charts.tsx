// Shared pieces of the Usage page's recharts charts. Sizes are explicit (ResponsiveContainer with an
// initial dimension), so charts render before ResizeObserver reports and in jsdom; animations are
// off so a poll never replays them and an end-to-end test sees final shapes at once.

import type { ReactNode } from 'react';
import { ResponsiveContainer } from 'recharts';

const CHART_HEIGHT = 220;
const INITIAL = { width: 560, height: CHART_HEIGHT };

export const AXIS_TICK = { fontSize: 11 };
export const TOOLTIP_STYLE = {
  contentStyle: {
    background: 'var(--panel)',
    border: '1px solid var(--border-strong)',
    borderRadius: 6,
    fontSize: 12,
    padding: '6px 8px',
  },
  labelStyle: { color: 'var(--text)', fontWeight: 600, marginBottom: 2 },
  itemStyle: { padding: 0 },
} as const;
export const LEGEND_STYLE = { fontSize: 12 };

/** A legend entry: a long provider name is cut short on one line (CSS), the whole of it in its title. */
export function legendLabel(value: unknown): ReactNode {
  const text = String(value);
  return <span title={text}>{text}</span>;
}

interface FrameProps {
  testId: string;
  title: string;
  /** Controls shown beside the title. */
  tools?: ReactNode;
  /** Shown instead of the chart (e.g. nothing to plot). */
  empty?: string | null;
  children: ReactNode;
}

/** A titled chart box: `figure` named by its title, with the chart filling its width. */
export function ChartFrame({ testId, title, tools, empty, children }: FrameProps) {
  const titleId = `${testId}-title`;
  return (
    <figure className="card chart" data-testid={testId} aria-labelledby={titleId}>
      <div className="chart__head">
        <figcaption id={titleId} className="card__title">
          {title}
        </figcaption>
        {tools}
      </div>
      {empty ? (
        <p className="chart__empty muted" style={{ height: CHART_HEIGHT }}>
          {empty}
        </p>
      ) : (
        <ResponsiveContainer width="100%" height={CHART_HEIGHT} initialDimension={INITIAL}>
          {children}
        </ResponsiveContainer>
      )}
    </figure>
  );
}
