// get_analytics → chart rows, totals and per-provider lines; session timelines → what to mark. Pure.

import type {
  Analytics,
  AnalyticsWindow,
  Attempt,
  Percentiles,
  ProviderId,
  SessionSummary,
  TimelineEntry,
  TrafficStats,
} from '../types';
import { groupThousands, pad2 } from './format';
import { chainOutcome } from './requests';
import { own } from './own';

export const WINDOWS: readonly { value: AnalyticsWindow; label: string }[] = [
  { value: 'hour', label: 'Last hour' },
  { value: 'day', label: 'Last day' },
  { value: 'month', label: 'Last 30 days' },
];

/** Colours that read on light and dark backgrounds, by provider position. */
const PROVIDER_COLORS = ['#3b82f6', '#f59e0b', '#10b981', '#a855f7', '#ef4444', '#06b6d4', '#84cc16', '#ec4899'];
export const ERROR_COLOR = '#dc2626';
export const PERCENTILE_COLORS = { p50: '#60a5fa', p90: '#f59e0b', p99: '#ef4444' } as const;

export function providerColor(index: number): string {
  return PROVIDER_COLORS[((index % PROVIDER_COLORS.length) + PROVIDER_COLORS.length) % PROVIDER_COLORS.length];
}

/**
 * Every provider with traffic in the window, in the dashboard's order first, then the rest (deleted
 * or renamed providers still in the log) by name.
 */
export function analyticsProviderIds(a: Analytics, order: readonly ProviderId[] = []): ProviderId[] {
  const seen = new Set<ProviderId>(Object.keys(a.providers));
  for (const point of a.series) for (const id of Object.keys(point.providers)) seen.add(id);
  const known = order.filter((id) => seen.has(id));
  const rest = [...seen].filter((id) => !order.includes(id)).sort();
  return [...known, ...rest];
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Axis label of a bucket start, local time: "14:05" (hour, day) or "Nov 24" (30 days). */
export function bucketLabel(unixMs: number, window: AnalyticsWindow): string {
  if (window === 'month') {
    // A day bar is named by its midday: where clocks go back at midnight itself (Chile), the day begins
    // while the clock still shows 23:00 of the day before.
    const d = new Date(unixMs + 12 * 3_600_000);
    return `${MONTHS[d.getMonth()]} ${d.getDate()}`;
  }
  const d = new Date(unixMs);
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
}

export type SeriesMetric = 'tokens' | 'requests';

export interface ChartRow {
  t: number;
  label: string;
  /**
   * The metric per provider (0 when it had no traffic in the bucket). A Map, and not named like an SVG
   * attribute: recharts spreads a row onto its shapes, and a plain object with a provider id
   * "toString" cannot be made a string.
   */
  byProvider: ReadonlyMap<ProviderId, number>;
  /** Failed attempts in the bucket, all providers. */
  errors: number;
  total: number;
}

/**
 * One row per bucket for a stacked chart. Values are nested (not `row[id]`) because recharts reads a
 * string dataKey as a path, and provider ids may contain dots.
 */
export function seriesRows(a: Analytics, ids: readonly ProviderId[], metric: SeriesMetric): ChartRow[] {
  return a.series.map((point) => {
    const byProvider = new Map<ProviderId, number>();
    let errors = 0;
    let total = 0;
    for (const id of ids) {
      const v = own(point.providers, id)?.[metric] ?? 0;
      byProvider.set(id, v);
      total += v;
    }
    for (const counts of Object.values(point.providers)) errors += counts.errors;
    return { t: point.t_unix_ms, label: bucketLabel(point.t_unix_ms, a.window), byProvider, errors, total };
  });
}

export interface PercentileRow extends Percentiles {
  provider: ProviderId;
}

/** One row per provider that has a measurement, for the grouped p50/p90/p99 bars. */
export function percentileRows(
  a: Analytics,
  ids: readonly ProviderId[],
  field: 'latency_ms' | 'ttfb_ms' = 'latency_ms',
): PercentileRow[] {
  const rows: PercentileRow[] = [];
  for (const id of ids) {
    const p = own(a.providers, id)?.[field];
    if (!p || (p.p50 === null && p.p90 === null && p.p99 === null)) continue;
    rows.push({ provider: id, p50: p.p50, p90: p.p90, p99: p.p99 });
  }
  return rows;
}

export type TotalKey =
  | 'requests'
  | 'errors'
  | 'input_tokens'
  | 'output_tokens'
  | 'cached_tokens'
  | 'reasoning_tokens'
  | 'total_tokens';

export const TOTALS: readonly { key: TotalKey; label: string; testId: string; tokens?: true }[] = [
  { key: 'requests', label: 'Requests', testId: 'usage-overall-requests' },
  { key: 'errors', label: 'Errors', testId: 'usage-overall-errors' },
  { key: 'input_tokens', label: 'Input tokens', testId: 'usage-overall-input-tokens', tokens: true },
  { key: 'output_tokens', label: 'Output tokens', testId: 'usage-overall-output-tokens', tokens: true },
  { key: 'cached_tokens', label: 'Cached tokens', testId: 'usage-overall-cached-tokens', tokens: true },
  { key: 'reasoning_tokens', label: 'Reasoning tokens', testId: 'usage-overall-reasoning-tokens', tokens: true },
  { key: 'total_tokens', label: 'Total tokens', testId: 'usage-overall-total-tokens', tokens: true },
];

/** Exact integer with thousands separators: 33000 → "33,000". */
export function formatInt(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—';
  const sign = n < 0 ? '-' : '';
  return sign + groupThousands(String(Math.round(Math.abs(n))));
}

/** When something happened, short: "14:03" today (by `nowMs`), "Nov 21 14:03" otherwise. Local time. */
export function shortTime(unixMs: number, nowMs: number): string {
  const d = new Date(unixMs);
  const n = new Date(nowMs);
  const hm = `${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
  const sameDay = d.getFullYear() === n.getFullYear() && d.getMonth() === n.getMonth() && d.getDate() === n.getDate();
  return sameDay ? hm : `${MONTHS[d.getMonth()]} ${d.getDate()} ${hm}`;
}

/**
 * Errors as a share of requests: "12.5%", "" when there were no requests. Never rounds to a
 * misleading edge: "0%" and "100%" are only none and all; a few in many read "<0.1%" and
 * all but a few ">99.9%".
 */
export function errorRate(s: Pick<TrafficStats, 'requests' | 'errors'>): string {
  if (!s.requests) return '';
  const pct = (s.errors / s.requests) * 100;
  if (s.errors > 0 && pct < 0.1) return '<0.1%';
  if (s.errors < s.requests && pct > 99.9) return '>99.9%';
  // 99.5–99.9 would round to "100": one decimal keeps it below.
  if (s.errors < s.requests && pct >= 99.5) return `${pct.toFixed(1)}%`;
  return `${pct >= 10 || pct === 0 ? Math.round(pct) : pct.toFixed(1)}%`;
}

// ---------------------------------------------------------------- sessions and timelines

/** Codex session ids are UUIDs: their first 8 characters are enough to tell them apart. Short ids stay whole. */
export function shortSessionId(id: string): string {
  return id.length > 20 ? `${id.slice(0, 8)}…` : id;
}

export function sessionProviders(s: SessionSummary, nameOf: (id: ProviderId) => string = (id) => id): string {
  return s.providers.length ? s.providers.map(nameOf).join(', ') : 'no provider';
}

/** An attempt's outcome in words, as the Requests page's attempt chain says it. */
export function outcomeLabel(outcome: Attempt['outcome']): string {
  return chainOutcome({ outcome }).label;
}

export interface TimelineItem {
  entry: TimelineEntry;
  /** 1-based position in the session. */
  n: number;
  ok: boolean;
  /** The provider that served the previous turn, when this one was served by another. */
  switchedFrom: ProviderId | null;
  /** Attempts that did not serve the request, in order, with their errors. */
  failed: Attempt[];
}

/** Timeline entries (oldest first) with what to mark: failovers, switches, failed attempts. */
export function timelineItems(requests: readonly TimelineEntry[], total: number = requests.length): TimelineItem[] {
  let previous: ProviderId | null = null;
  const before = Math.max(0, total - requests.length); // the session's older requests, not in the timeline
  return requests.map((entry, i) => {
    const switchedFrom = entry.switched && previous !== null && previous !== entry.provider ? previous : null;
    if (entry.provider !== null) previous = entry.provider;
    return {
      entry,
      n: before + i + 1,
      ok: entry.status < 400 && !entry.error,
      switchedFrom,
      failed: entry.attempts.filter((a) => a.outcome !== 'ok'),
    };
  });
}

/** "Relay One → Relay Two" for the attempts of one request. */
export function attemptPath(entry: Pick<TimelineEntry, 'attempts'>, nameOf: (id: ProviderId) => string = (id) => id): string {
  return entry.attempts.map((a) => nameOf(a.provider)).join(' → ');
}

/** "gpt-5.5" or "gpt-5.5 → openai/gpt-5.5" when the provider was sent another model. */
export function modelPath(model: string | null | undefined, sent: string | null | undefined): string {
  if (!model) return sent || '—';
  return sent && sent !== model ? `${model} → ${sent}` : model;
}
