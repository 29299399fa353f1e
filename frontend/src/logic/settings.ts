// The Settings dialog: ui settings and the request log's retention, as typed, validated, and the
// changed values per call (update_ui, update_request_log). Pure.

import type { RequestLogSettings, UiSettings } from '../types';

export type UiToggle = Exclude<keyof UiSettings, 'notify_quota_percent'>;

export const NOTIFY_TOGGLES: readonly { key: UiToggle; label: string; hint: string }[] = [
  { key: 'notify_failover', label: 'A request fails over', hint: 'When traffic moves away from a provider that failed' },
  { key: 'notify_all_down', label: 'All providers are down', hint: 'When no provider can serve' },
  { key: 'notify_recovery', label: 'Serving again', hint: 'When the gateway can serve again after all providers were down' },
  { key: 'notify_provider_back', label: 'A provider is back', hint: 'When a provider answers again after failing' },
  { key: 'notify_quota', label: 'Quota runs low', hint: 'When a provider’s quota left falls below the percentage below' },
];

export interface SettingsDraft {
  ui: UiSettings;
  /** Typed text for the numbers. */
  quotaPercent: string;
  retentionDays: string;
  maxRows: string;
}

export function settingsDraft(ui: UiSettings, log: RequestLogSettings): SettingsDraft {
  return {
    ui: { ...ui },
    quotaPercent: String(ui.notify_quota_percent),
    retentionDays: String(log.retention_days),
    maxRows: String(log.max_rows),
  };
}

export interface SettingsPlan {
  ui: Partial<UiSettings>;
  requestLog: Partial<RequestLogSettings>;
  errors: Partial<Record<'quotaPercent' | 'retentionDays' | 'maxRows', string>>;
}

/**
 * A whole number from `min` to `max`. A minus sign or an exponent ("-5", "1e7") is read as a number
 * (so an out-of-range one gets the range message; one in range is still refused: "1e3" is no way to
 * write 1000); a decimal point or comma is refused rather than
 * dropped ("1,5" is not 15). With `grouped`, thousands may be grouped by ",", "_" or spaces
 * ("1,000,000").
 */
function intIn(raw: string, min: number, max: number, grouped = false): number | string {
  let text = raw.trim();
  if (grouped && /^\d{1,3}([,_ ]\d{3})+$/.test(text)) text = text.replace(/[,_ ]/g, '');
  if (!/^[-+]?\d+(e\+?\d+)?$/i.test(text)) {
    if (text.includes(',')) return grouped ? 'Enter a whole number, thousands grouped as 100,000' : 'Enter a whole number, without “,”';
    return 'Enter a whole number';
  }
  const v = Number(text);
  if (!Number.isSafeInteger(v) || v < min || v > max) return `Between ${min.toLocaleString('en-US')} and ${max.toLocaleString('en-US')}`;
  if (/e/i.test(text)) return 'Enter a whole number, without an exponent';
  return v;
}

/** What Save sends: only changed values, only when every field is valid. */
export function planSettings(draft: SettingsDraft, ui: UiSettings, log: RequestLogSettings): SettingsPlan {
  const plan: SettingsPlan = { ui: {}, requestLog: {}, errors: {} };
  for (const k of Object.keys(draft.ui) as (keyof UiSettings)[]) {
    if (k !== 'notify_quota_percent' && draft.ui[k] !== ui[k]) (plan.ui as Record<string, unknown>)[k] = draft.ui[k];
  }
  const pct = intIn(draft.quotaPercent, 1, 99);
  if (typeof pct === 'string') plan.errors.quotaPercent = pct;
  else if (pct !== ui.notify_quota_percent) plan.ui.notify_quota_percent = pct;
  const days = intIn(draft.retentionDays, 1, 3650);
  if (typeof days === 'string') plan.errors.retentionDays = days;
  else if (days !== log.retention_days) plan.requestLog.retention_days = days;
  const rows = intIn(draft.maxRows, 1, 10_000_000, true);
  if (typeof rows === 'string') plan.errors.maxRows = rows;
  else if (rows !== log.max_rows) plan.requestLog.max_rows = rows;
  return plan;
}
