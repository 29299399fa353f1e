// Seeded usage data for the fake backend: quota snapshots, ledgers, and a small request log from
// which get_analytics, list_sessions and get_session_timeline are computed the way
// backend/api_router/analytics.py computes them (so the numbers in tests add up).

import type {
  Analytics,
  AnalyticsWindow,
  Attempt,
  ChainAttempt,
  Ledger,
  Percentiles,
  QuotaEntry,
  RequestDetail,
  RequestOutcome,
  RequestRow,
  SessionSummary,
  SessionTimeline,
  TrafficStats,
  UsageSnapshot,
} from '../src/types';

export const NOW = 1_764_000_000_000;
const MIN = 60_000;

export function makeSnapshot(over: Partial<UsageSnapshot> = {}): UsageSnapshot {
  return {
    adapter: 'token_stats',
    base_url: 'https://relay.example.com',
    fetched_at_unix_ms: NOW - 2 * MIN,
    detected: true,
    remaining: null,
    unlimited: false,
    today_used: null,
    today_added: null,
    daily_spent_usd: null,
    daily_budget_usd: null,
    weekly_spent_usd: null,
    weekly_budget_usd: null,
    monthly_spent_usd: null,
    monthly_budget_usd: null,
    granted: null,
    used: null,
    available: null,
    expires_at_unix_ms: null,
    unit: 'USD',
    percent_fields: [],
    notes: [],
    exhausted: false,
    exhausted_reason: null,
    ...over,
  };
}

export function makeQuotaEntry(over: Partial<QuotaEntry> = {}): QuotaEntry {
  return { snapshot: null, error: null, error_at_unix_ms: null, skipped: false, adapter_hint: null, ...over };
}

/**
 * p1: $12.30 left (token_stats, detected). p2: 4.2k quota (new_api, configured, usage base set).
 * p3: daily budget spent → exhausted and skipped, and its latest check failed (last good reading kept).
 * p4 (disabled, no key): no entry.
 */
export function seededQuota(): Record<string, QuotaEntry> {
  return {
    p1: makeQuotaEntry({
      snapshot: makeSnapshot({ remaining: 12.3, today_used: 1.75, used: 37.7, granted: 50 }),
      adapter_hint: 'token_stats',
    }),
    p2: makeQuotaEntry({
      snapshot: makeSnapshot({
        adapter: 'new_api',
        base_url: 'https://panel.two.example.com',
        detected: false,
        remaining: 4200,
        unit: 'quota',
        used: 95_800,
      }),
      adapter_hint: 'new_api',
    }),
    p3: makeQuotaEntry({
      snapshot: makeSnapshot({
        adapter: 'budget_info',
        base_url: 'https://three.example.com',
        daily_spent_usd: 10,
        daily_budget_usd: 10,
        exhausted: true,
        exhausted_reason: 'daily budget spent: $10.00 of $10.00',
        fetched_at_unix_ms: NOW - 20 * MIN,
      }),
      error: 'HTTP 502 from https://three.example.com/api/usage',
      error_at_unix_ms: NOW - MIN,
      skipped: true,
      adapter_hint: 'budget_info',
    }),
  };
}

export function seededLedgers(): Record<string, Ledger> {
  return {
    p1: { tokens_since_check: 1234, since_unix_ms: NOW - 2 * MIN },
    p2: { tokens_since_check: 0, since_unix_ms: NOW - 2 * MIN },
    p3: { tokens_since_check: 2_500_000, since_unix_ms: NOW - 20 * MIN },
  };
}

// ---------------------------------------------------------------- the request log

export interface FakeRequest {
  id: number;
  request_id: string;
  unix_ms: number;
  session_id: string | null;
  provider: string | null;
  model: string;
  sent_model: string;
  stream: boolean;
  hedged: boolean;
  request_bytes: number;
  response_bytes: number;
  outcome: RequestOutcome;
  status: number;
  latency_ms: number;
  ttfb_ms: number | null;
  input_tokens: number;
  output_tokens: number;
  cached_tokens: number;
  reasoning_tokens: number;
  total_tokens: number;
  error: string | null;
  attempts: Attempt[];
}

/** The models each seeded provider is sent for "gpt-5.5" (p2 maps it, like a model_map would). */
export const SENT_MODEL: Record<string, string> = { p2: 'openai/gpt-5.5' };

/** Maps keyed by provider id, as the backend's dicts: no inherited "constructor" or "toString" entries. */
function idMap<V>(): Record<string, V> {
  return Object.create(null) as Record<string, V>;
}
const sentModel = (provider: string | null) =>
  provider !== null && Object.prototype.hasOwnProperty.call(SENT_MODEL, provider) ? SENT_MODEL[provider] : undefined;

export const SESSION_A = '019a7f3a-9c2e-7b4d-8e8a-9c1f2a3b4c5d';
export const SESSION_B = '019a7f52-1e77-7c10-9a02-77d41be0f3a1';

const ok = (provider: string, latency_ms: number): Attempt => ({ provider, outcome: 'ok', status: 200, latency_ms, error: null });
const fail = (provider: string, latency_ms: number, status: number, error: string): Attempt => ({
  provider,
  outcome: 'provider_failure',
  status,
  latency_ms,
  error,
});

type Row = [
  minutesAgo: number,
  session: string | null,
  provider: string | null,
  status: number,
  latency: number,
  ttfb: number | null,
  tokens: [input: number, output: number, cached: number, reasoning: number],
  attempts: Attempt[],
];

/**
 * Last hour (the numbers tests check): 8 requests, 1 error, 30,000 input / 3,000 output / 8,000
 * cached / 600 reasoning = 33,000 total tokens. p1: 7 attempts (2 failed), p2: 3 attempts (1 failed);
 * p1 served 20,900 tokens, p2 12,100. Latency p50/p90/p99: p1 800/1000/1000 ms, p2 1200/1500/1500 ms.
 * Older rows only count in "day" (3 h ago) and "month" (3 days ago).
 */
const ROWS: Row[] = [
  [55, null, 'p1', 200, 900, 300, [4000, 400, 1000, 100], [ok('p1', 900)]],
  [50, SESSION_A, 'p1', 200, 800, 250, [5000, 500, 2000, 100], [ok('p1', 800)]],
  [42, SESSION_A, 'p2', 200, 1900, 700, [6000, 600, 2000, 100], [fail('p1', 400, 502, 'HTTP 502: bad gateway'), ok('p2', 1500)]],
  [35, SESSION_A, 'p2', 200, 1200, 400, [5000, 500, 1000, 100], [ok('p2', 1200)]],
  [28, SESSION_A, 'p1', 200, 700, 200, [4000, 400, 1000, 100], [ok('p1', 700)]],
  [20, SESSION_B, null, 502, 650, null, [0, 0, 0, 0], [fail('p1', 300, 503, 'HTTP 503: overloaded'), fail('p2', 350, 500, 'HTTP 500: internal error')]],
  [12, SESSION_B, 'p1', 200, 1000, 350, [3000, 300, 1000, 100], [ok('p1', 1000)]],
  [4, null, 'p1', 200, 600, 150, [3000, 300, 0, 0], [ok('p1', 600)]],
  [180, null, 'p3', 200, 2500, 900, [10000, 1000, 0, 0], [ok('p3', 2500)]],
  [3 * 24 * 60, 'old-session', 'p2', 200, 1100, 500, [20000, 2000, 0, 0], [ok('p2', 1100)]],
];

export function seededRequests(): FakeRequest[] {
  return ROWS.map(([ago, session, provider, status, latency, ttfb, [i, o, c, r], attempts], index) => ({
    id: index + 1,
    request_id: `req_${String(index + 1).padStart(4, '0')}`,
    unix_ms: NOW - ago * MIN,
    session_id: session,
    provider,
    model: 'gpt-5.5',
    sent_model: sentModel(provider) || 'gpt-5.5',
    stream: index % 2 === 0,
    hedged: index === 3,
    request_bytes: 40_000 + index * 1000,
    response_bytes: status >= 400 ? 180 : 5_000 + index * 100,
    outcome: status >= 400 ? 'error' : 'ok',
    status,
    latency_ms: latency,
    ttfb_ms: ttfb,
    input_tokens: i,
    output_tokens: o,
    cached_tokens: c,
    reasoning_tokens: r,
    total_tokens: i + o,
    error: status >= 400 ? 'all providers failed' : null,
    attempts,
  }));
}

// ---------------------------------------------------------------- analytics.py, in TypeScript

const WINDOWS: Record<AnalyticsWindow, [span: number, bucket: number]> = {
  hour: [3_600_000, 300_000],
  day: [86_400_000, 3_600_000],
  month: [30 * 86_400_000, 86_400_000],
};
const TOKEN_FIELDS = ['input_tokens', 'output_tokens', 'cached_tokens', 'reasoning_tokens', 'total_tokens'] as const;

export function percentiles(values: number[]): Percentiles {
  if (!values.length) return { p50: null, p90: null, p99: null };
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  const rank = (p: number) => sorted[Math.min(n - 1, Math.max(0, Math.ceil((p * n) / 100) - 1))];
  return { p50: rank(50), p90: rank(90), p99: rank(99) };
}

type Counts = Omit<TrafficStats, 'latency_ms' | 'ttfb_ms'>;
export const empty = (): Counts => ({
  requests: 0,
  errors: 0,
  input_tokens: 0,
  output_tokens: 0,
  cached_tokens: 0,
  reasoning_tokens: 0,
  total_tokens: 0,
});

export function summary(log: FakeRequest[], window: AnalyticsWindow, now = NOW): Analytics {
  const [span, bucket] = WINDOWS[window];
  const since = now - span;
  const inWindow = log.filter((r) => r.unix_ms >= since).sort((a, b) => a.unix_ms - b.unix_ms);
  const overall = empty();
  const latency: number[] = [];
  const ttfb: number[] = [];
  const per = idMap<Counts>();
  const perLatency = idMap<number[]>();
  const perTtfb = idMap<number[]>();
  const series = new Map<number, Record<string, { requests: number; errors: number; tokens: number }>>();
  const point = (ts: number, id: string) => {
    const index = Math.floor((ts - since) / bucket);
    const slot = series.get(index) ?? idMap<{ requests: number; errors: number; tokens: number }>();
    series.set(index, slot);
    return (slot[id] ??= { requests: 0, errors: 0, tokens: 0 });
  };

  for (const r of inWindow) {
    overall.requests += 1;
    if (r.status >= 400 || r.error) overall.errors += 1;
    latency.push(r.latency_ms);
    if (r.ttfb_ms !== null) ttfb.push(r.ttfb_ms);
    for (const f of TOKEN_FIELDS) overall[f] += r[f];
    if (r.provider) {
      const p = (per[r.provider] ??= empty());
      for (const f of TOKEN_FIELDS) p[f] += r[f];
      if (r.ttfb_ms !== null) (perTtfb[r.provider] ??= []).push(r.ttfb_ms);
      point(r.unix_ms, r.provider).tokens += r.total_tokens;
    }
  }
  for (const r of inWindow) {
    for (const a of r.attempts) {
      if (a.outcome !== 'ok' && a.outcome !== 'provider_failure') continue;
      const p = (per[a.provider] ??= empty());
      const pt = point(r.unix_ms, a.provider);
      p.requests += 1;
      pt.requests += 1;
      if (a.outcome === 'provider_failure') {
        p.errors += 1;
        pt.errors += 1;
      } else {
        (perLatency[a.provider] ??= []).push(a.latency_ms);
      }
    }
  }
  const providers = idMap<TrafficStats>();
  for (const id of Object.keys(per).sort()) {
    providers[id] = { ...per[id], latency_ms: percentiles(perLatency[id] ?? []), ttfb_ms: percentiles(perTtfb[id] ?? []) };
  }
  return {
    window,
    since_unix_ms: since,
    now_unix_ms: now,
    bucket_ms: bucket,
    overall: { ...overall, latency_ms: percentiles(latency), ttfb_ms: percentiles(ttfb) },
    providers,
    series: Array.from({ length: span / bucket }, (_, index) => ({
      t_unix_ms: since + index * bucket,
      providers: series.get(index) ?? {},
    })),
  };
}

/** `released`: sessions no longer bound to a provider (idle, or moved by a lock): their `provider` is
 * only the one that served them last. */
export function sessions(log: FakeRequest[], limit = 50, released: ReadonlySet<string> = new Set()): SessionSummary[] {
  const by = new Map<string, FakeRequest[]>();
  for (const r of log) if (r.session_id) by.set(r.session_id, [...(by.get(r.session_id) ?? []), r]);
  return [...by.entries()]
    .map(([session_id, rs]) => ({
      session_id,
      requests: rs.length,
      first_unix_ms: Math.min(...rs.map((r) => r.unix_ms)),
      last_unix_ms: Math.max(...rs.map((r) => r.unix_ms)),
      providers: [...new Set(rs.map((r) => r.provider).filter((p): p is string => !!p))].sort(),
      failovers: rs.filter((r) => r.attempts.length > 1).length,
      total_tokens: rs.reduce((n, r) => n + r.total_tokens, 0),
      provider: [...rs].sort((a, b) => b.id - a.id).find((r) => r.provider)?.provider ?? null,
      bound: !released.has(session_id) && rs.some((r) => r.provider),
    }))
    .sort((a, b) => b.last_unix_ms - a.last_unix_ms)
    .slice(0, limit);
}

export function timeline(log: FakeRequest[], sessionId: string, released: ReadonlySet<string> = new Set()): SessionTimeline {
  let previous: string | null = null;
  const requests = log
    .filter((r) => r.session_id === sessionId)
    .sort((a, b) => a.id - b.id)
    .map((r) => {
      const served = r.provider;
      const entry = {
        id: r.id,
        unix_ms: r.unix_ms,
        provider: served,
        status: r.status,
        latency_ms: r.latency_ms,
        ttfb_ms: r.ttfb_ms,
        total_tokens: r.total_tokens,
        error: r.error,
        attempts: r.attempts,
        failover: r.attempts.some((a) => a.outcome === 'provider_failure') && served !== null,
        switched: previous !== null && served !== null && served !== previous,
        model: r.model,
        sent_model: r.sent_model,
        hedged: r.hedged,
      };
      if (served !== null) previous = served;
      return entry;
    });
  // Bound to the provider that served it last unless released, as list_sessions says.
  return { session_id: sessionId, provider: previous, bound: previous !== null && !released.has(sessionId), requests };
}

// ---------------------------------------------------------------- list_requests / get_request

/** Served after another provider failed, as the gateway's request log says it. */
function failedOver(r: FakeRequest): boolean {
  return r.provider !== null && r.attempts.some((a) => a.outcome === 'provider_failure' && a.provider !== r.provider);
}

export function requestRow(r: FakeRequest): RequestRow {
  return {
    id: r.id,
    request_id: r.request_id,
    unix_ms: r.unix_ms,
    path: '/v1/responses',
    session_id: r.session_id,
    provider: r.provider,
    model: r.model,
    sent_model: r.sent_model,
    stream: r.stream,
    status: r.status,
    outcome: r.outcome,
    latency_ms: r.latency_ms,
    ttfb_ms: r.ttfb_ms,
    input_tokens: r.input_tokens,
    output_tokens: r.output_tokens,
    cached_tokens: r.cached_tokens,
    reasoning_tokens: r.reasoning_tokens,
    total_tokens: r.total_tokens,
    attempts: r.attempts.length,
    hedged: r.hedged,
    failover: failedOver(r),
    error: r.error,
    request_bytes: r.request_bytes,
    response_bytes: r.response_bytes,
    providers_tried: r.attempts.map((a) => a.provider),
  };
}

export function requestDetail(r: FakeRequest): RequestDetail {
  const chain: ChainAttempt[] = r.attempts.map((a, i) => ({
    provider: a.provider,
    outcome: a.outcome as ChainAttempt['outcome'],
    status: a.status,
    latency_ms: a.latency_ms,
    ttfb_ms: a.outcome === 'ok' ? r.ttfb_ms : null,
    error: a.error,
    hedge: r.hedged && i === r.attempts.length - 1,
    retry: null,
    sent_model: sentModel(a.provider) ?? r.model,
    summary: false,
  }));
  return { ...requestRow(r), attempt_chain: chain };
}

export interface RequestQuery {
  provider?: string | null;
  outcome?: string | null;
  session_id?: string | null;
  text?: string | null;
}

/** The filters of list_requests / export_requests, newest first. */
export function matchRequests(log: readonly FakeRequest[], q: RequestQuery): FakeRequest[] {
  const text = (q.text ?? '').toLowerCase();
  const out = log
    // provider: any attempt went to it (served or not)
    .filter((r) => !q.provider || r.provider === q.provider || r.attempts.some((a) => a.provider === q.provider))
    .filter((r) => {
      if (!q.outcome) return true;
      if (q.outcome === 'failover') return failedOver(r);
      return r.outcome === q.outcome;
    })
    .filter((r) => !q.session_id || r.session_id === q.session_id)
    .filter(
      (r) =>
        !text ||
        [r.error, r.model, r.sent_model, r.session_id, r.request_id].some((f) => (f ?? '').toLowerCase().includes(text)),
    );
  // The log is kept in id order: reversing is enough (and cheap with 100,000 rows); sort otherwise.
  const ascending = out.every((r, i) => i === 0 || out[i - 1].id < r.id);
  return ascending ? out.reverse() : out.sort((a, b) => b.id - a.id);
}

/** `n` synthetic requests (ids 1000+), for paging and large-log tests. */
export function manyRequests(n: number, now = NOW): FakeRequest[] {
  const out: FakeRequest[] = [];
  for (let i = 0; i < n; i++) {
    const provider = i % 7 === 0 ? 'p2' : 'p1';
    out.push({
      id: 1000 + i,
      request_id: `req_bulk_${i}`,
      unix_ms: now - (n - i) * 1000,
      session_id: `bulk-${Math.floor(i / 50)}`,
      provider,
      model: 'gpt-5.5',
      sent_model: sentModel(provider) ?? 'gpt-5.5',
      stream: true,
      hedged: false,
      request_bytes: 1000,
      response_bytes: 500,
      outcome: 'ok',
      status: 200,
      latency_ms: 500 + (i % 10) * 10,
      ttfb_ms: 100,
      input_tokens: 10,
      output_tokens: 5,
      cached_tokens: 0,
      reasoning_tokens: 0,
      total_tokens: 15,
      error: null,
      attempts: [{ provider, outcome: 'ok', status: 200, latency_ms: 500, error: null }],
    });
  }
  return out;
}
