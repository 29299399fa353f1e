// Audit round 3: what the forms refuse before sending, and where a server refusal is shown.

import { describe, expect, it } from 'vitest';
import { refusedField } from './refusal';
import { planSettings, settingsDraft } from './settings';
import { BASE_URL_MAX, validateApiKey, validateBaseUrl, validateUsageToken } from './validate';
import type { RequestLogSettings, UiSettings } from '../types';

const ui = {
  start_hidden: false,
  autostart: false,
  notify_failover: true,
  notify_all_down: true,
  notify_recovery: true,
  notify_provider_back: true,
  notify_quota: true,
  notify_quota_percent: 10,
} as UiSettings;
const log: RequestLogSettings = { retention_days: 30, max_rows: 200_000 };
const plan = (over: Partial<{ quotaPercent: string; retentionDays: string; maxRows: string }>) =>
  planSettings({ ...settingsDraft(ui, log), ...over }, ui, log);

describe('keys and usage tokens: what the backend refuses is refused here', () => {
  it.each([
    ['sk-abc\u200bdef', /invisible or control character \(U\+200B\)/],
    ['sk-abc\u0007def', /invisible or control character \(U\+0007\)/],
    ['sk-abc\u2060def', /invisible or control character \(U\+2060\)/],
    ['sk-clé-123', /must be ASCII.*“é”/],
    ['sk-ключ', /must be ASCII/],
    ['sk-abc def', /spaces or line breaks/],
    ['sk-abc\u00a0def', /spaces or line breaks/],
  ])('key %j', (key, message) => {
    expect(validateApiKey(key)).toMatch(message);
    expect(validateUsageToken(key)).toMatch(message);
  });

  it('says which one it is', () => {
    expect(validateApiKey('sk-clé')).toMatch(/^The key /);
    expect(validateUsageToken('tok-clé')).toMatch(/^The token /);
  });

  it('lets printable ASCII through, trimmed', () => {
    expect(validateApiKey('  sk-AZaz09_-.~!@#$%^&*()+=[]{}|;:,<>/?  ')).toBeNull();
    expect(validateUsageToken('')).toBeNull();
  });
});

describe('base URL length', () => {
  const url = (n: number) => `https://relay.example.com/${'a'.repeat(n - 'https://relay.example.com/'.length)}`;
  it(`accepts ${BASE_URL_MAX} characters and refuses one more, saying so`, () => {
    expect(validateBaseUrl(url(BASE_URL_MAX))).toBeNull();
    expect(validateBaseUrl(url(BASE_URL_MAX + 1))).toBe('Keep the URL to 2,048 characters (it has 2,049)');
  });
});

describe('settings numbers', () => {
  it('refuses "1,5" as a percentage instead of saving 15', () => {
    const p = plan({ quotaPercent: '1,5' });
    expect(p.errors.quotaPercent).toBe('Enter a number, with “.” for decimals, without “,”');
    expect(p.ui.notify_quota_percent).toBeUndefined();
    expect(plan({ retentionDays: '1,5' }).errors.retentionDays).toBe('Enter a number, with “.” for decimals, without “,”');
  });

  it('gives the range for a negative number or an exponent', () => {
    expect(plan({ quotaPercent: '-5' }).errors.quotaPercent).toBe('Between 0 and 100');
    expect(plan({ quotaPercent: '1e7' }).errors.quotaPercent).toBe('Between 0 and 100');
    expect(plan({ retentionDays: '1e7' }).errors.retentionDays).toBe('Between 1 and 3,650');
    expect(plan({ maxRows: '-5' }).errors.maxRows).toBe('Between 1 and 10,000,000');
    expect(plan({ retentionDays: '1e3' }).errors.retentionDays).toBe('Enter a number, without an exponent');
    expect(plan({ retentionDays: '1e3' }).requestLog.retention_days).toBeUndefined();
  });

  it('takes thousands separators in the row count only, in groups of three', () => {
    expect(plan({ maxRows: '1,000,000' }).requestLog.max_rows).toBe(1_000_000);
    expect(plan({ maxRows: '1 000 000' }).requestLog.max_rows).toBe(1_000_000);
    expect(plan({ maxRows: '300_000' }).requestLog.max_rows).toBe(300_000);
    expect(plan({ maxRows: '1,5000' }).errors.maxRows).toBe('Enter a whole number, thousands grouped as 100,000');
    expect(plan({ quotaPercent: '1,000' }).errors.quotaPercent).toBe('Enter a number, with “.” for decimals, without “,”');
    expect(plan({ quotaPercent: '15' }).ui.notify_quota_percent).toBe(15);
  });
});

describe('refusedField', () => {
  it.each([
    ["base_url 'http://a..b/v1' has an empty label", 'base_url'],
    ['display_name must be at most 200 characters', 'display_name'],
    ["a provider named 'p1' already exists", 'id'],
    ['key must be printable characters only, with no spaces', 'key'],
    ['token must be ASCII', 'token'],
    ["usage_base_url 'x' must start with http://", 'usage_base_url'],
    ['could not write config.toml: permission denied', null],
    ["unknown provider 'p9' (it was deleted or renamed meanwhile)", null],
  ])('%j → %j', (message, field) => {
    expect(refusedField(message)).toBe(field);
  });
});
