// Shared pieces of the Usage page's recharts charts. Sizes are explicit (ResponsiveContainer with an
// initial dimension), so charts render before ResizeObserver reports and in jsdom; animations are
// off so a poll never replays them and an end-to-end test sees final shapes at once.

import type { ReactNode } from 'react';
import { ResponsiveContainer, type XAxisTickContentProps } from 'recharts';
import { fitText } from '../../logic/format';

const CHART_HEIGHT = 220;
const INITIAL = { width: 560, height: CHART_HEIGHT };

const TICK_FONT_PX = 11;
export const AXIS_TICK = { fontSize: TICK_FONT_PX };
/**
 * The chart tooltip's box. Recharts keeps a tooltip inside the plot area only while it is no wider than
 * that area (a wider one is pushed past the chart's edge, and the page scrolls sideways), so its width is
 * capped below the plot's — the chart's width less the widest y axis (52 px) and the right margin
 * (8 px) — and long provider names wrap inside it, anywhere (a name without spaces too), whole. The
 * chart itself clips sideways overflow (`.chart .recharts-wrapper` in styles.css), so a tooltip laid
 * out before recharts has measured it cannot widen the page for a frame either.
 */
export const TOOLTIP_STYLE = {
  // No slide from the last place: a box that grew meanwhile (a longer name) would pass the edge on its way.
  isAnimationActive: false,
  wrapperStyle: { maxWidth: 'min(360px, calc(100% - 64px))' },
  contentStyle: {
    background: 'var(--panel)',
    border: '1px solid var(--border-strong)',
    borderRadius: 6,
    fontSize: 12,
    padding: '6px 8px',
    whiteSpace: 'normal',
    overflowWrap: 'anywhere',
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

/** Room left between two neighbouring category labels, in px. */
const TICK_GAP = 8;
let measureContext: CanvasRenderingContext2D | null | undefined;
let fontFamily: string | undefined;

/**
 * The width in px of `text` in the page's font at `fontPx`: measured on a canvas, or estimated from its
 * length where there is none (jsdom).
 */
export function textWidth(text: string, fontPx: number): number {
  if (measureContext === undefined) measureContext = document.createElement('canvas').getContext('2d');
  if (!measureContext) return Array.from(text).length * fontPx * 0.62;
  fontFamily ??= getComputedStyle(document.body).fontFamily || 'sans-serif';
  measureContext.font = `${fontPx}px ${fontFamily}`;
  return measureContext.measureText(text).width;
}

/**
 * A category axis tick that names a provider: cut with "…" to the width of its own slot (the axis
 * width shared by its categories), so long names neither overlap nor run past the chart. The whole
 * name is the tick's title (the SVG tooltip) and stays the chart tooltip's label.
 *
 *     <XAxis dataKey="name" interval={0} tick={NameTick} />
 */
export function NameTick({ x, y, width, visibleTicksCount, payload, fill }: XAxisTickContentProps) {
  const full = String(payload.value ?? '');
  const slot = Number(width) / Math.max(1, visibleTicksCount);
  const room = Number.isFinite(slot) ? slot - TICK_GAP : Infinity;
  const shown = fitText(full, room, (s) => textWidth(s, TICK_FONT_PX));
  return (
    <g className="chart__name-tick" data-full-name={full}>
      <title>{full}</title>
      <text
        x={x}
        y={y}
        dy="0.71em"
        textAnchor="middle"
        fontSize={TICK_FONT_PX}
        fill={fill}
        className="recharts-text recharts-cartesian-axis-tick-value"
      >
        {shown}
      </text>
    </g>
  );
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
