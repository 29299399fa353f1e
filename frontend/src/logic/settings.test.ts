import { describe, expect, it } from 'vitest';
import type { UiSettings } from '../types';
import { planSettings, settingsDraft } from './settings';

const ui: UiSettings = {
  start_hidden: true,
  autostart: false,
  notify_failover: true,
  notify_all_down: true,
  notify_recovery: true,
  notify_quota: true,
  notify_provider_back: true,
  notify_quota_percent: 10,
};
const log = { retention_days: 30, max_rows: 200_000 };

describe('planSettings', () => {
  it('sends nothing when nothing changed', () => {
    expect(planSettings(settingsDraft(ui, log), ui, log)).toEqual({ ui: {}, requestLog: {}, errors: {} });
  });
  it('sends the changed toggles and numbers to their own call', () => {
    const d = settingsDraft(ui, log);
    d.ui.autostart = true;
    d.ui.notify_failover = false;
    d.quotaPercent = '25';
    d.maxRows = '1,000,000';
    expect(planSettings(d, ui, log)).toEqual({
      ui: { autostart: true, notify_failover: false, notify_quota_percent: 25 },
      requestLog: { max_rows: 1_000_000 },
      errors: {},
    });
  });
  it('checks the ranges of update_request_log and the percentage', () => {
    const d = { ...settingsDraft(ui, log), quotaPercent: '101', retentionDays: '3651', maxRows: '0' };
    expect(planSettings(d, ui, log).errors).toEqual({
      quotaPercent: 'Between 0 and 100',
      retentionDays: 'Between 1 and 3,650',
      maxRows: 'Between 1 and 10,000,000',
    });
    expect(planSettings({ ...settingsDraft(ui, log), maxRows: '1.5' }, ui, log).errors.maxRows).toBe('Enter a whole number');
  });
});
