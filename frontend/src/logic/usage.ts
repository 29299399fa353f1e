// Quota and ledger presentation: compact cells for the providers table, the snapshot detail list for
// the usage dialog, and what a manual refresh achieved. Pure.

import type { Ledger, ProviderId, QuotaEntry, UsageAdapter, UsageSnapshot, UsageState, UsageUnit } from '../types';
import { countNoun, formatCount, formatDateTime, groupThousands } from './format';
import { hasOwn, own } from './own';

export const USAGE_ADAPTERS: readonly { value: UsageAdapter; label: string }[] = [
  { value: '', label: 'Detect automatically' },
  { value: 'token_stats', label: 'token_stats' },
  { value: 'budget_info', label: 'budget_info' },
  { value: 'new_api', label: 'new_api' },
  { value: 'openai_billing', label: 'openai_billing' },
];

export function isUsageAdapter(v: string): v is UsageAdapter {
  return USAGE_ADAPTERS.some((a) => a.value === v);
}

// ---------------------------------------------------------------- numbers

/** With its currency sign: 12.3 → "$12.30", 0.5 → "$0.50", 12345 → "$12.3k", -1 → "-$1.00". */
function withSymbol(n: number | null | undefined, symbol: string): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—';
  const sign = n < 0 ? '-' : '';
  const a = Math.abs(n);
  return `${sign}${symbol}${a < 10_000 ? groupThousands(a.toFixed(2)) : formatCount(a)}`;
}

/** Up to 2 decimals for small values, k/M above a thousand: 12.345 → "12.35", 4200 → "4.2k". */
export function formatAmount(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—';
  if (Math.abs(n) >= 1000) return formatCount(n);
  return String(Math.round(n * 100) / 100);
}

/** 85 → "85%", 12.345 → "12.3%". */
export function formatPercent(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—';
  const r = Math.round(n * 10) / 10;
  return `${r}%`;
}

/** A quantity of a snapshot in its unit ("$12.30", "€5.00", "¥8.00", "4.2k quota", "85%", "12.5"). */
export function formatQuantity(
  n: number | null | undefined,
  unit: UsageUnit,
  opts: { percent?: boolean } = {},
): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—';
  if (opts.percent) return formatPercent(n);
  const symbol = own(CURRENCY_SIGNS, unit);
  if (symbol !== undefined) return withSymbol(n, symbol);
  if (unit === 'quota') return `${formatAmount(n)} quota`;
  return formatAmount(n);
}

const CURRENCY_SIGNS: Partial<Record<UsageUnit, string>> = { USD: '$', EUR: '€', GBP: '£', CNY: '¥' };

/**
 * A budget figure (`field`, e.g. "daily_budget_usd") in the budgets' currency (dollars for a reading
 * that does not say), or as a percentage when the panel wrote it as one ("20%" is not $20).
 */
function formatBudget(n: number | null | undefined, s: UsageSnapshot, field: string): string {
  return formatQuantity(n, s.budget_unit || 'USD', { percent: s.percent_fields.includes(field) });
}

// ---------------------------------------------------------------- the quota cell

export type QuotaTone = 'ok' | 'warn' | 'bad' | 'muted';

export interface QuotaCell {
  /** Short text for the table: "$12.30 left", "4.2k quota", "85% left", "$7.50 left/wk", "¥120.00 of ¥100.00/day"
   *  (a budget spent), "∞", "—". */
  text: string;
  /** Longer text for the tooltip (several lines). */
  title: string;
  tone: QuotaTone;
  exhausted: boolean;
  exhaustedReason: string | null;
  /** Automatic routing skips this provider. */
  skipped: boolean;
  /** The latest check failed (the snapshot, if any, is the last good one). */
  error: string | null;
  errorAt: number | null;
}

/** Budget periods, with the short suffix the table uses ("$7.50 left/wk"). */
const PERIODS = [
  ['daily', 'day'],
  ['weekly', 'wk'],
  ['monthly', 'mo'],
] as const;

type Budget = { period: (typeof PERIODS)[number][0]; per: string; spent: number | null; budget: number };

/** The first budget that is set (a budget of 0 or less means "none" on the panels we know). */
function firstBudget(s: UsageSnapshot): Budget | null {
  for (const [period, per] of PERIODS) {
    const budget = s[`${period}_budget_usd`];
    if (budget !== null && budget > 0) return { period, per, spent: s[`${period}_spent_usd`], budget };
  }
  return null;
}

/** The short amount: what is left, in the snapshot's unit. */
function headline(s: UsageSnapshot): { text: string; low: boolean } {
  if (s.unlimited) return { text: '∞', low: false };
  const pct = (field: string) => s.percent_fields.includes(field);
  const left = (value: number, field: string) => {
    // Overdrawn (a relay that lets a balance go below zero): by how much, never a negative amount "left".
    const q = formatQuantity(Math.abs(value), s.unit, { percent: pct(field) });
    if (value < 0) return `${q} overdrawn`;
    // "4.2k quota" already says what it is; money and percentages read better with "left".
    return s.unit === 'quota' && !pct(field) ? q : `${q} left`;
  };
  if (s.remaining !== null) return { text: left(s.remaining, 'remaining'), low: s.remaining <= 0 };
  if (s.available !== null) return { text: left(s.available, 'available'), low: s.available <= 0 };
  const budget = firstBudget(s);
  if (budget) {
    const spentField = `${budget.period}_spent_usd`;
    const budgetField = `${budget.period}_budget_usd`;
    // No difference is worked out between a percentage and an amount.
    const sameUnit = budget.spent === null || pct(spentField) === pct(budgetField);
    const rest = budget.budget - (budget.spent ?? 0);
    if (sameUnit && rest > 0) return { text: `${formatBudget(rest, s, budgetField)} left/${budget.per}`, low: false };
    // Spent in full or overspent: what was spent of the budget, never a negative amount "left".
    const spent = formatBudget(budget.spent ?? 0, s, spentField);
    return { text: `${spent} of ${formatBudget(budget.budget, s, budgetField)}/${budget.per}`, low: sameUnit };
  }
  if (s.today_used !== null) return { text: `${formatQuantity(s.today_used, s.unit)} used today`, low: false };
  if (s.used !== null) return { text: `${formatQuantity(s.used, s.unit)} used`, low: false };
  return { text: '—', low: false };
}

export function quotaCell(entry: QuotaEntry | null | undefined): QuotaCell {
  const error = entry?.error || null;
  const errorAt = error ? entry?.error_at_unix_ms ?? null : null;
  const s = entry?.snapshot ?? null;
  const skipped = !!entry?.skipped;
  if (!s) {
    return {
      text: '—',
      title: error ? `No usage reading yet. Last check failed: ${error}` : 'No usage reading yet',
      tone: error ? 'bad' : 'muted',
      exhausted: false,
      exhaustedReason: null,
      skipped,
      error,
      errorAt,
    };
  }
  const h = headline(s);
  const exhausted = s.exhausted;
  const lines = [
    `${h.text} — ${adapterDescription(s)}`,
    `Checked ${formatDateTime(s.fetched_at_unix_ms)} at ${s.base_url}`,
  ];
  if (exhausted) lines.push(`Exhausted: ${s.exhausted_reason ?? 'quota exhausted'}`);
  if (expiredWhenRead(s)) lines.push(`Its key had expired when it was checked (${formatDateTime(s.expires_at_unix_ms!)})`);
  if (skipped) lines.push('Automatic routing skips this provider until a check shows quota again');
  if (error) lines.push(`Last check failed${errorAt ? ` at ${formatDateTime(errorAt)}` : ''}: ${error} (showing the last good reading)`);
  return {
    text: h.text,
    title: lines.join('\n'),
    tone: exhausted || h.low ? 'bad' : error ? 'warn' : 'ok',
    exhausted,
    exhaustedReason: exhausted ? s.exhausted_reason ?? 'quota exhausted' : null,
    skipped,
    error,
    errorAt,
  };
}

/** "new_api (detected)" / "token_stats (configured)". */
export function adapterDescription(s: Pick<UsageSnapshot, 'adapter' | 'detected'>): string {
  return `${s.adapter} (${s.detected ? 'detected' : 'configured'})`;
}

// ---------------------------------------------------------------- the ledger cell

export interface LedgerCell {
  text: string;
  title: string;
}

/** "1.2k tok" with a tooltip saying since when; "—" when nothing was counted. */
export function ledgerCell(ledger: Ledger | null | undefined): LedgerCell {
  if (!ledger || (!ledger.tokens_since_check && ledger.since_unix_ms === null)) {
    return { text: '—', title: 'No tokens counted since the last usage check' };
  }
  const since =
    ledger.since_unix_ms === null
      ? 'no successful usage check yet'
      : `the usage check at ${formatDateTime(ledger.since_unix_ms)}`;
  return {
    text: `${formatCount(ledger.tokens_since_check)} tok`,
    title: `${ledger.tokens_since_check.toLocaleString('en-US')} tokens served since ${since}`,
  };
}

// ---------------------------------------------------------------- snapshot details (dialog)

export interface DetailRow {
  label: string;
  value: string;
}

/** Whether the panel's expiry date had passed when the reading was taken (its key no longer serves). */
function expiredWhenRead(s: UsageSnapshot): boolean {
  return s.expires_at_unix_ms !== null && s.fetched_at_unix_ms > 0 && s.expires_at_unix_ms < s.fetched_at_unix_ms;
}

/** Every reported quantity of a snapshot, labelled, for the usage dialog. */
export function snapshotDetails(s: UsageSnapshot): DetailRow[] {
  const rows: DetailRow[] = [];
  const q = (field: keyof UsageSnapshot & string, n: number | null) =>
    formatQuantity(n, s.unit, { percent: s.percent_fields.includes(field) });
  const add = (label: string, value: string | null) => {
    if (value !== null) rows.push({ label, value });
  };
  // Overdrawn: by how much, as the table cell says it — never a negative amount remaining.
  const balance = (field: 'remaining' | 'available', n: number) => (n < 0 ? `${q(field, -n)} overdrawn` : q(field, n));
  add('Remaining', s.unlimited ? 'Unlimited' : s.remaining !== null ? balance('remaining', s.remaining) : null);
  add('Used today', s.today_used !== null ? q('today_used', s.today_used) : null);
  add('Added today', s.today_added !== null ? q('today_added', s.today_added) : null);
  for (const [period] of PERIODS) {
    const spent = s[`${period}_spent_usd`];
    const budget = s[`${period}_budget_usd`];
    if (spent === null && budget === null) continue;
    const label = `${period[0].toUpperCase()}${period.slice(1)} budget`;
    const spentText = formatBudget(spent ?? 0, s, `${period}_spent_usd`);
    add(
      label,
      budget !== null && budget > 0
        ? `${spentText} of ${formatBudget(budget, s, `${period}_budget_usd`)} spent`
        : `${spentText} spent (no budget)`,
    );
  }
  add('Granted', s.granted !== null ? q('granted', s.granted) : null);
  add('Used', s.used !== null ? q('used', s.used) : null);
  add('Available', s.available !== null ? balance('available', s.available) : null);
  add(expiredWhenRead(s) ? 'Expired' : 'Expires', s.expires_at_unix_ms !== null ? formatDateTime(s.expires_at_unix_ms) : null);
  add('Unit', s.unit ? unitLabel(s.unit) : null);
  return rows;
}

function unitLabel(unit: UsageUnit): string {
  switch (unit) {
    case 'USD':
      return 'US dollars';
    case 'EUR':
      return 'euros';
    case 'GBP':
      return 'pounds sterling';
    case 'CNY':
      return 'yuan';
    case 'quota':
      return "the panel's quota units";
    default:
      return 'unknown';
  }
}

// ---------------------------------------------------------------- what a manual refresh did

export interface RefreshOutcome {
  tone: 'success' | 'error' | 'info';
  title: string;
  message?: string;
}

/**
 * Summarises a `refresh_usage` answer for a toast. `provider` null = "refresh all", with `ids` the
 * providers that exist. A provider without an entry was not checked (disabled, no base URL, or
 * neither an API key nor a usage token); an entry with an error means its latest check failed.
 */
export function refreshOutcome(
  result: UsageState,
  provider: ProviderId | null,
  ids: readonly ProviderId[],
  nameOf: (id: ProviderId) => string = (id) => id,
): RefreshOutcome {
  const failed = (id: ProviderId) => !!own(result.quota, id)?.error;
  if (provider !== null) {
    const entry = own(result.quota, provider);
    if (!entry) {
      return {
        tone: 'info',
        title: `Nothing to check for ${nameOf(provider)}`,
        message: 'Usage is checked for enabled providers with an API key or a usage token.',
      };
    }
    if (entry.error) return { tone: 'error', title: `Usage check failed for ${nameOf(provider)}`, message: entry.error };
    return { tone: 'success', title: `Usage checked for ${nameOf(provider)}` };
  }
  const checked = ids.filter((id) => hasOwn(result.quota, id));
  const bad = checked.filter(failed);
  if (checked.length === 0) {
    return {
      tone: 'info',
      title: 'No usage to check',
      message: 'Usage is checked for enabled providers with an API key or a usage token.',
    };
  }
  if (bad.length > 0) {
    return {
      tone: 'error',
      // Names in the title while they are few; a count when a list of names would fill the toast.
      title: bad.length <= 3 ? `Usage check failed for ${bad.map(nameOf).join(', ')}`
        : `Usage check failed for ${bad.length} of ${countNoun(checked.length, 'provider')}`,
      // In full: the backend's message says what went wrong and what to do.
      message: bad.map((id) => `${nameOf(id)}: ${own(result.quota, id)?.error ?? ''}`).join('\n'),
    };
  }
  return { tone: 'success', title: `Usage checked for ${countNoun(checked.length, 'provider')}` };
}
