// The Requests page: filters ⇄ address parameters, labels, sizes, paging. Pure.

import type { ChainAttempt, RequestFilters, RequestOutcome, RequestOutcomeFilter, RequestRow, RetryKind } from '../types';
import type { Tone } from './health';
import { own } from './own';

/** Query parameters of `#/requests?…` (see logic/route). */
type RouteParams = Readonly<Record<string, string>>;

export const PAGE_SIZE = 100;
export const LIVE_POLL_MS = 2000;

/** Address parameter names: `#/requests?provider=p1&outcome=error&session=…&q=…`. */
export interface RequestFilterParams {
  provider: string;
  outcome: string;
  session: string;
  q: string;
}

export const OUTCOME_FILTERS: readonly { value: RequestOutcomeFilter; label: string }[] = [
  { value: 'ok', label: 'Served' },
  { value: 'error', label: 'Failed' },
  { value: 'failover', label: 'Failed over' },
  { value: 'client_error', label: 'Client error' },
  { value: 'client_closed', label: 'Client closed' },
];

const OUTCOME_VALUES = OUTCOME_FILTERS.map((o) => o.value) as readonly string[];

export function filterParams(params: RouteParams): RequestFilterParams {
  return {
    provider: params.provider ?? '',
    outcome: OUTCOME_VALUES.includes(params.outcome ?? '') ? params.outcome : '',
    // The control API's names (`session_id`, `text`) are read too: an address built from a list_requests call.
    session: params.session ?? params.session_id ?? '',
    q: params.q ?? params.text ?? '',
  };
}

/** The list_requests / export_requests filters for the address parameters (empty ones left out). */
export function requestFilters(p: RequestFilterParams): RequestFilters {
  const out: RequestFilters = {};
  if (p.provider) out.provider = p.provider;
  if (p.outcome) out.outcome = p.outcome as RequestOutcomeFilter;
  if (p.session.trim()) out.session_id = p.session.trim();
  if (p.q.trim()) out.text = p.q.trim();
  return out;
}

export function hasFilters(p: RequestFilterParams): boolean {
  return Object.keys(requestFilters(p)).length > 0;
}

/** A stable key for the filters (for queries and for resetting the paging). */
export function filtersKey(f: RequestFilters): string {
  return JSON.stringify([f.provider ?? '', f.outcome ?? '', f.session_id ?? '', f.text ?? '']);
}

/** The filters back from `filtersKey()`. */
export function filtersFromKey(key: string): RequestFilters {
  const [provider, outcome, session, text] = JSON.parse(key) as string[];
  return requestFilters({ provider, outcome, session, q: text });
}

const OUTCOMES: Record<RequestOutcome, { label: string; tone: Tone }> = {
  ok: { label: 'served', tone: 'ok' },
  error: { label: 'failed', tone: 'bad' },
  client_error: { label: 'client error', tone: 'warn' },
  client_closed: { label: 'client closed', tone: 'neutral' },
};

export function outcomeBadge(row: Pick<RequestRow, 'outcome'>): { label: string; tone: Tone } {
  return own(OUTCOMES, row.outcome) ?? { label: String(row.outcome).replace(/_/g, ' '), tone: 'neutral' };
}

/** What the Provider cell says: who served, or for a request nobody served, whom it asked. */
export function providerCell(
  row: Pick<RequestRow, 'provider' | 'providers_tried'>,
  nameOf: (id: string) => string,
): { served: string | null; tried: string } {
  if (row.provider) return { served: nameOf(row.provider), tried: '' };
  const asked = [...new Set(row.providers_tried ?? [])].map(nameOf);
  return { served: null, tried: asked.length ? `tried ${asked.join(', ')}` : 'none asked' };
}

const CHAIN: Record<string, { label: string; tone: Tone }> = {
  ok: { label: 'served', tone: 'ok' },
  provider_failure: { label: 'failed', tone: 'bad' },
  client_error: { label: 'client error', tone: 'warn' },
  retry: { label: 'retried', tone: 'warn' },
  client_closed: { label: 'client closed', tone: 'neutral' },
  aborted: { label: 'aborted (gateway stopped)', tone: 'neutral' },
  hedge_lost: { label: 'lost the hedge (cancelled)', tone: 'neutral' },
};

export function chainOutcome(a: Pick<ChainAttempt, 'outcome'>): { label: string; tone: Tone } {
  return own(CHAIN, a.outcome) ?? { label: String(a.outcome).replace(/_/g, ' '), tone: 'neutral' };
}

const RETRIES: Record<RetryKind, string> = {
  rebuild: 'continuity retry: history rebuilt from the Codex session',
  strip_sealed: 'continuity retry: sealed reasoning removed',
  expand_compaction: 'continuity retry: compacted history expanded',
  summarize_compaction: 'continuity retry: compacted history too long here, summarised by this provider first',
  shorter_summary: 'summary request too long here: asked again without the oldest part of the conversation',
};

export function retryLabel(kind: RetryKind | null | undefined): string | null {
  if (!kind) return null;
  return own(RETRIES, kind) ?? `continuity retry: ${kind}`;
}

/** What the attempt's badge says, in words (its title says more: `retryLabel`). */
const RETRY_BADGES: Record<RetryKind, string> = {
  rebuild: 'retried: history rebuilt',
  strip_sealed: 'retried: sealed reasoning removed',
  expand_compaction: 'retried: compaction expanded',
  summarize_compaction: 'retried: summarised first',
  shorter_summary: 'summary shortened',
};

export function retryBadge(kind: RetryKind | null | undefined): string | null {
  if (!kind) return null;
  return own(RETRY_BADGES, kind) ?? `retried: ${String(kind).replace(/_/g, ' ')}`;
}

/** 980 → "980 B", 41_234 → "40.3 KB", 5_300_000 → "5.1 MB"; null → "—". */
export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—';
  if (Math.round(n) < 1024) return `${Math.round(n)} B`;
  const units = ['KB', 'MB', 'GB'];
  let v = n / 1024;
  let i = 0;
  // By what it rounds to: 1,048,575 B would read "1024 KB" where 1,048,576 reads "1.0 MB".
  while (Math.round(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ${units[i]}`;
}

/** "1–100 of 1,234" for a page of `count` rows with `newer` rows above it. */
export function pageRange(newer: number, count: number, total: number): string {
  if (count === 0) return `0 of ${total.toLocaleString('en-US')}`;
  const from = newer + 1;
  return `${from.toLocaleString('en-US')}–${(from + count - 1).toLocaleString('en-US')} of ${total.toLocaleString('en-US')}`;
}

/** An opened request, and the page (filters and position) it was opened on. */
export interface OpenRequest {
  row: RequestRow;
  page: string;
}

/**
 * The page's rows, and after them each request opened on this page that a live re-read has pushed off
 * it (newer requests came in), in the order they were opened: kept while open — the person reading its
 * attempt chain keeps it. (The page's own order, by the time each request began, is the server's.)
 */
export function withOpenRequests(
  rows: readonly RequestRow[],
  open: ReadonlyMap<number, OpenRequest>,
  page: string,
): readonly RequestRow[] {
  const present = new Set(rows.map((r) => r.id));
  const kept = [...open.values()].filter((o) => o.page === page && !present.has(o.row.id)).map((o) => o.row);
  return kept.length ? [...rows, ...kept] : rows;
}
