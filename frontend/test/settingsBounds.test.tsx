// The Settings dialog takes what the server takes (backend/api_router/config/schema.py):
// notify_quota_percent 0–100 with decimals, retention_days 1–3650 with decimals, max_rows a whole
// number 1–10,000,000; and the quota percentage, disabled while "Quota runs low" is off, never blocks Save.

import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { planSettings, settingsDraft } from '../src/logic/settings';
import type { RequestLogSettings, UiSettings } from '../src/types';
import { desktopApp } from './desktopApp';
import { DEFAULT_UI } from './fakeBackend';

const ui: UiSettings = DEFAULT_UI;
const log: RequestLogSettings = { retention_days: 30, max_rows: 200_000 };
type Texts = Partial<{ quotaPercent: string; retentionDays: string; maxRows: string }>;
const plan = (over: Texts, notifyQuota = true) => {
  const d = { ...settingsDraft(ui, log), ...over };
  d.ui.notify_quota = notifyQuota;
  return planSettings(d, ui, log);
};
const lastCall = (b: { calls: { method: string; args: unknown }[] }, method: string) =>
  [...b.calls].reverse().find((c) => c.method === method);

describe('settings bounds match the server', () => {
  it.each([
    ['0', 0],
    ['100', 100],
    ['12.5', 12.5],
    ['0.5', 0.5],
    ['99.9', 99.9],
  ])('the quota percentage takes %j', (text, value) => {
    const p = plan({ quotaPercent: text });
    expect(p.errors).toEqual({});
    expect(p.ui.notify_quota_percent).toBe(value);
  });

  it('refuses a percentage outside 0–100, and a comma', () => {
    expect(plan({ quotaPercent: '100.5' }).errors.quotaPercent).toBe('Between 0 and 100');
    expect(plan({ quotaPercent: '-1' }).errors.quotaPercent).toBe('Between 0 and 100');
    expect(plan({ quotaPercent: '1,5' }).errors.quotaPercent).toBe('Enter a number, with “.” for decimals, without “,”');
  });

  it('takes decimal days from 1 to 3,650 and whole rows from 1 to 10,000,000', () => {
    expect(plan({ retentionDays: '1.5' }).requestLog.retention_days).toBe(1.5);
    expect(plan({ retentionDays: '3650' }).requestLog.retention_days).toBe(3650);
    expect(plan({ retentionDays: '0.5' }).errors.retentionDays).toBe('Between 1 and 3,650');
    expect(plan({ maxRows: '1' }).requestLog.max_rows).toBe(1);
    expect(plan({ maxRows: '10,000,000' }).requestLog.max_rows).toBe(10_000_000);
    expect(plan({ maxRows: '1.5' }).errors.maxRows).toBe('Enter a whole number');
    expect(plan({ maxRows: '10,000,001' }).errors.maxRows).toBe('Between 1 and 10,000,000');
  });

  it('a disabled quota percentage never blocks saving', () => {
    const off = plan({ quotaPercent: '150' }, false);
    expect(off.errors).toEqual({});
    expect(off.ui).toEqual({ notify_quota: false });
    expect(plan({ quotaPercent: '150' }, true).errors.quotaPercent).toBe('Between 0 and 100');
  });
});

describe('the Settings dialog', () => {
  it('saves a decimal percentage and decimal days', async () => {
    const { backend } = await desktopApp();
    fireEvent.click(screen.getByRole('button', { name: 'Settings' }));
    const dialog = screen.getByRole('dialog', { name: 'Settings' });
    const pct = await within(dialog).findByLabelText('Quota warning below (%)');
    fireEvent.change(pct, { target: { value: '2.5' } });
    fireEvent.change(within(dialog).getByLabelText('Keep requests for (days)'), { target: { value: '0.5' } });
    expect(within(dialog).getByText('Between 1 and 3,650')).toBeTruthy();
    fireEvent.change(within(dialog).getByLabelText('Keep requests for (days)'), { target: { value: '1.5' } });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Save settings' }));
    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());
    expect(lastCall(backend, 'update_ui')?.args).toEqual({ notify_quota_percent: 2.5 });
    expect(lastCall(backend, 'update_request_log')?.args).toEqual({ retention_days: 1.5 });
  });

  it('saves with "Quota runs low" off though its percentage field holds no valid percentage', async () => {
    const { backend } = await desktopApp();
    fireEvent.click(screen.getByRole('button', { name: 'Settings' }));
    const dialog = screen.getByRole('dialog', { name: 'Settings' });
    const pct = await within(dialog).findByLabelText('Quota warning below (%)');
    fireEvent.change(pct, { target: { value: '150' } });
    expect(within(dialog).getByText('Between 0 and 100')).toBeTruthy();
    fireEvent.click(within(dialog).getByLabelText('Quota runs low'));
    expect(pct).toHaveProperty('disabled', true);
    expect(within(dialog).queryByText('Between 0 and 100')).toBeNull();
    const save = within(dialog).getByRole('button', { name: 'Save settings' });
    expect(save).toHaveProperty('disabled', false);
    fireEvent.click(save);
    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());
    expect(lastCall(backend, 'update_ui')?.args).toEqual({ notify_quota: false });
  });
});
