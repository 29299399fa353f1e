// Quota and "used since last check" columns, usage refresh buttons and the usage settings dialog, against the
// fake backend's seeded usage (test/fakeUsage.ts).

import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { FakeBackend, FakeError } from './fakeBackend';
import { desktopApp } from './desktopApp';


const lastCall = (b: FakeBackend, method: string) => [...b.calls].reverse().find((c) => c.method === method);
const text = (id: string) => screen.getByTestId(id).textContent;

describe('providers table: usage', () => {
  it('shows what is left, exhaustion, the failed check beside the last reading, and tokens since the check', async () => {
    await desktopApp();
    expect(screen.getByRole('columnheader', { name: 'Quota used since last check' })).toBeTruthy();
    expect(screen.getByRole('columnheader', { name: 'Quota used since last check' }).getAttribute('title')).toMatch(/tokens used since last check/);

    expect(text('quota-p1')).toBe('$12.30 left');
    expect(text('quota-p2')).toBe('4.2k quota');
    expect(text('quota-p3')).toBe('$10.00 of $10.00/day');
    expect(text('quota-p4')).toBe('—');
    expect(screen.getByTestId('quota-p1').getAttribute('title')).toContain('token_stats (detected)');

    const p3 = within(screen.getByTestId('provider-row-p3'));
    expect(p3.getByTestId('quota-exhausted-p3').textContent).toBe('exhausted');
    expect(p3.getByTestId('quota-exhausted-p3').getAttribute('title')).toContain('automatic routing skips it');
    const err = p3.getByRole('button', {
      name: 'Usage check failed for Relay Three — open usage settings',
      description: /: HTTP 502 from https:\/\/three\.example\.com\/api\/usage$/,
    });
    expect(err.getAttribute('title')).toMatch(/^Last usage check failed at .*: HTTP 502/);
    expect(screen.queryByTestId('quota-error-p1')).toBeNull();
    expect(screen.queryByTestId('quota-exhausted-p1')).toBeNull();

    expect(text('ledger-p1')).toBe('1.2k tok');
    expect(screen.getByTestId('ledger-p1').getAttribute('title')).toMatch(/^1,234 tokens served since the usage check at /);
    expect(text('ledger-p2')).toBe('0 tok');
    expect(text('ledger-p3')).toBe('2.5M tok');
    expect(text('ledger-p4')).toBe('—');
    expect(screen.getByRole('columnheader', { name: 'Quota used since last check' })).toBeTruthy();
  });

  it('refreshes one provider and says so', async () => {
    const { backend } = await desktopApp();
    fireEvent.click(screen.getByRole('button', { name: 'Refresh usage for Relay One' }));
    await waitFor(() => expect(text('ledger-p1')).toBe('0 tok'));
    expect(lastCall(backend, 'refresh_usage')?.args).toEqual({ provider: 'p1' });
    expect(await screen.findByText('Usage checked for Relay One')).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Refresh usage for Relay One' })).toHaveProperty('disabled', false);
  });

  it('keeps the last good reading when a refresh fails and shows the error beside it', async () => {
    const { backend } = await desktopApp();
    backend.usageFailures.p1 = 'HTTP 500 from https://relay.example.com/api/token/usage';
    fireEvent.click(screen.getByRole('button', { name: 'Refresh usage for Relay One' }));
    const toast = await screen.findByTestId('toast-error');
    expect(toast.textContent).toContain('Usage check failed for Relay One');
    expect(toast.textContent).toContain('HTTP 500 from https://relay.example.com/api/token/usage');
    await screen.findByRole('button', { name: 'Usage check failed for Relay One — open usage settings', description: /HTTP 500/ });
    expect(text('quota-p1')).toBe('$12.30 left');
    expect(screen.getByTestId('quota-p1').className).toContain('quota--warn');
    expect(text('ledger-p1')).toBe('1.2k tok'); // not reset: no successful check
  });

  it('refreshes all providers from the header button', async () => {
    const { backend } = await desktopApp();
    fireEvent.click(screen.getByRole('button', { name: 'Refresh all usage' }));
    expect(await screen.findByText('Usage checked for 3 providers')).toBeTruthy();
    expect(lastCall(backend, 'refresh_usage')?.args).toEqual({});
    // p3's check succeeded this time: the error is gone, the reading (still exhausted) stays.
    await waitFor(() => expect(screen.queryByTestId('quota-error-p3')).toBeNull());
    expect(screen.getByTestId('quota-exhausted-p3')).toBeTruthy();
  });

  it('shows the backend message when the refresh call itself fails', async () => {
    const { backend } = await desktopApp();
    backend.failNext.refresh_usage = new FakeError('unknown provider: p1');
    fireEvent.click(screen.getByRole('button', { name: 'Refresh usage for Relay One' }));
    const toast = await screen.findByTestId('toast-error');
    expect(toast.textContent).toContain('Could not check usage for Relay One');
    expect(toast.textContent).toContain('unknown provider: p1');
  });

  it('says when there is nothing to check', async () => {
    await desktopApp();
    fireEvent.click(screen.getByRole('button', { name: 'Refresh usage for Relay Four' }));
    expect(await screen.findByText('Nothing to check for Relay Four')).toBeTruthy();
  });
});

describe('usage settings dialog', () => {
  it('shows the adapter found, the base that worked and the failed check', async () => {
    await desktopApp();
    fireEvent.click(screen.getByRole('button', { name: 'Usage settings for Relay Three' }));
    const dialog = screen.getByRole('dialog', { name: 'Usage settings for Relay Three' });
    expect(within(dialog).getByTestId('usage-adapter-p3').textContent).toBe('budget_info (detected)');
    expect(within(dialog).getByTestId('usage-base-p3').textContent).toBe('https://three.example.com');
    expect(within(dialog).getByText('$10.00 of $10.00 spent')).toBeTruthy();
    expect(within(dialog).getByTestId('usage-error-p3').textContent).toContain(
      'HTTP 502 from https://three.example.com/api/usage (the reading above is the last good one)',
    );
    fireEvent.click(within(dialog).getByRole('button', { name: 'Cancel' }));
    expect(screen.queryByRole('dialog')).toBeNull();

    // The error icon in the row opens the same dialog.
    fireEvent.click(screen.getByTestId('quota-error-p3'));
    expect(screen.getByRole('dialog', { name: 'Usage settings for Relay Three' })).toBeTruthy();
  });

  it('validates and saves adapter, usage base URL and token, then checks again', async () => {
    const { backend } = await desktopApp();
    fireEvent.click(screen.getByRole('button', { name: 'Usage settings for Relay Two' }));
    let dialog = screen.getByRole('dialog', { name: 'Usage settings for Relay Two' });
    expect(within(dialog).getByTestId('usage-adapter-p2').textContent).toBe('new_api (configured)');
    await waitFor(() => expect(within(dialog).getByTestId('usage-token-state-p2').textContent).toMatch(/^None set/));
    expect(within(dialog).queryByRole('button', { name: 'Clear usage token' })).toBeNull();

    const adapter = within(dialog).getByLabelText('Usage adapter') as HTMLSelectElement;
    expect([...adapter.options].map((o) => o.text)).toEqual([
      'Detect automatically',
      'token_stats',
      'budget_info',
      'new_api',
      'openai_billing',
    ]);
    fireEvent.change(adapter, { target: { value: 'token_stats' } });
    const base = within(dialog).getByLabelText('Usage base URL');
    fireEvent.change(base, { target: { value: 'ftp://panel.example.com' } });
    const token = within(dialog).getByLabelText('Usage token');
    expect(token.getAttribute('type')).toBe('password');
    fireEvent.change(token, { target: { value: 'bad token' } });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Save usage settings' }));
    expect(within(dialog).getByText('The URL must start with http:// or https://')).toBeTruthy();
    expect(within(dialog).getByText('The token must not contain spaces or line breaks')).toBeTruthy();
    expect(base.getAttribute('aria-invalid')).toBe('true');
    expect(lastCall(backend, 'upsert_provider')).toBeUndefined();

    fireEvent.change(base, { target: { value: ' https://usage.two.example.com ' } });
    fireEvent.change(token, { target: { value: 'ut_secret_42' } });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Save usage settings' }));
    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());
    expect(lastCall(backend, 'upsert_provider')?.args).toEqual({
      provider: 'p2',
      usage_adapter: 'token_stats',
      usage_base_url: 'https://usage.two.example.com',
    });
    expect(lastCall(backend, 'set_usage_token')?.args).toEqual({ provider: 'p2', token: 'ut_secret_42' });
    await waitFor(() => expect(lastCall(backend, 'refresh_usage')?.args).toEqual({ provider: 'p2' }));
    expect(document.body.textContent).not.toContain('ut_secret_42');

    // Reopened: the token is set but never shown; it can be cleared.
    fireEvent.click(screen.getByRole('button', { name: 'Usage settings for Relay Two' }));
    dialog = screen.getByRole('dialog', { name: 'Usage settings for Relay Two' });
    expect((within(dialog).getByLabelText('Usage token') as HTMLInputElement).value).toBe('');
    expect((within(dialog).getByLabelText('Usage adapter') as HTMLSelectElement).value).toBe('token_stats');
    expect((within(dialog).getByLabelText('Usage base URL') as HTMLInputElement).value).toBe('https://usage.two.example.com');
    await waitFor(() => expect(within(dialog).getByTestId('usage-token-state-p2').textContent).toMatch(/^A usage token is set/));
    fireEvent.click(within(dialog).getByRole('button', { name: 'Clear usage token' }));
    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());
    expect(lastCall(backend, 'clear_usage_token')?.args).toEqual({ provider: 'p2' });
    expect(backend.usageTokens.has('p2')).toBe(false);
  });

  it('sends an empty usage base URL to go back to the derived one, and nothing when unchanged', async () => {
    const { backend } = await desktopApp();
    backend.state.providers.p1 = { ...backend.state.providers.p1, usage_base_url: 'https://old.example.com' };
    fireEvent.click(screen.getByRole('button', { name: 'Refresh usage for Relay Two' })); // any action re-reads the status
    await screen.findByText('Usage checked for Relay Two');

    fireEvent.click(screen.getByRole('button', { name: 'Usage settings for Relay One' }));
    let dialog = screen.getByRole('dialog', { name: 'Usage settings for Relay One' });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Save usage settings' }));
    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());
    expect(lastCall(backend, 'upsert_provider')).toBeUndefined();

    fireEvent.click(screen.getByRole('button', { name: 'Usage settings for Relay One' }));
    dialog = screen.getByRole('dialog', { name: 'Usage settings for Relay One' });
    fireEvent.change(within(dialog).getByLabelText('Usage base URL'), { target: { value: '' } });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Save usage settings' }));
    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());
    expect(lastCall(backend, 'upsert_provider')?.args).toEqual({ provider: 'p1', usage_base_url: '' });
  });
});
