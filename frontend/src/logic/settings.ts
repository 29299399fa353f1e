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
 * The bounds and kinds of the numbers, as the backend's schema has them
 * (backend/api_router/config/schema.py): `notify_quota_percent` a float 0–100, `retention_days` a float
 * 1–3650, `max_rows` an int 1–10,000,000.
 */
export const SETTINGS_NUMBERS = {
  quotaPercent: { min: 0, max: 100, integer: false, grouped: false },
  retentionDays: { min: 1, max: 3650, integer: false, grouped: false },
  maxRows: { min: 1, max: 10_000_000, integer: true, grouped: true },
} as const;

type NumberField = keyof typeof SETTINGS_NUMBERS;

/** "0 to 100", "1 to 10,000,000": the hint under a number field. */
export function settingsRange(field: NumberField): string {
  const { min, max } = SETTINGS_NUMBERS[field];
  return `${min.toLocaleString('en-US')} to ${max.toLocaleString('en-US')}`;
}

/**
 * A number from `min` to `max`: whole with `integer`, else decimals too ("12.5"). A minus sign or an
 * exponent ("-5", "1e7") is read as a number (so an out-of-range one gets the range message; one in
 * range is still refused: "1e3" is no way to write 1000); a comma is refused rather than dropped or
 * read as a decimal point ("1,5" is neither 15 nor 1.5). With `grouped`, thousands may be grouped by
 * ",", "_" or spaces ("1,000,000").
 */
function numberIn(raw: string, field: NumberField): number | string {
  const { min, max, integer, grouped } = SETTINGS_NUMBERS[field];
  const kind = integer ? 'a whole number' : 'a number';
  let text = raw.trim();
  if (grouped && /^\d{1,3}([,_ ]\d{3})+$/.test(text)) text = text.replace(/[,_ ]/g, '');
  const digits = integer ? '\\d+' : '(\\d+(\\.\\d*)?|\\.\\d+)';
  if (!new RegExp(`^[-+]?${digits}(e[-+]?\\d+)?$`, 'i').test(text)) {
    if (text.includes(',')) {
      if (grouped) return `Enter ${kind}, thousands grouped as 100,000`;
      return integer ? `Enter ${kind}, without “,”` : `Enter ${kind}, with “.” for decimals, without “,”`;
    }
    return `Enter ${kind}`;
  }
  const v = Number(text);
  const inRange = Number.isFinite(v) && v >= min && v <= max && (!integer || Number.isSafeInteger(v));
  if (!inRange) return `Between ${min.toLocaleString('en-US')} and ${max.toLocaleString('en-US')}`;
  if (/e/i.test(text)) return `Enter ${kind}, without an exponent`;
  return v;
}

/**
 * What Save sends: only changed values, only when every field in use is valid. The quota percentage
 * is not in use while "Quota runs low" is off: its field is disabled then, so text in it that is no
 * valid percentage never blocks Save (nor is sent: the saved percentage stays); a valid change is kept.
 */
export function planSettings(draft: SettingsDraft, ui: UiSettings, log: RequestLogSettings): SettingsPlan {
  const plan: SettingsPlan = { ui: {}, requestLog: {}, errors: {} };
  for (const k of Object.keys(draft.ui) as (keyof UiSettings)[]) {
    if (k !== 'notify_quota_percent' && draft.ui[k] !== ui[k]) (plan.ui as Record<string, unknown>)[k] = draft.ui[k];
  }
  const pct = numberIn(draft.quotaPercent, 'quotaPercent');
  if (typeof pct === 'string') {
    if (draft.ui.notify_quota) plan.errors.quotaPercent = pct;
  } else if (pct !== ui.notify_quota_percent) plan.ui.notify_quota_percent = pct;
  const days = numberIn(draft.retentionDays, 'retentionDays');
  if (typeof days === 'string') plan.errors.retentionDays = days;
  else if (days !== log.retention_days) plan.requestLog.retention_days = days;
  const rows = numberIn(draft.maxRows, 'maxRows');
  if (typeof rows === 'string') plan.errors.maxRows = rows;
  else if (rows !== log.max_rows) plan.requestLog.max_rows = rows;
  return plan;
}
