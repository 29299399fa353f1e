// What a screen reader hears of the dashboard's results: Test, Probe, Test all, Copy and Add provider
// show their outcome where the focus is not (a strip under the row, an icon), so each is also said
// through the notifications' live regions, as a usage check or a deletion is.

import { act, fireEvent, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { probeNotice, testNotice } from '../src/logic/providerTest';
import type { ProviderTest } from '../src/types';
import { FakeBackend } from './fakeBackend';
import { desktopApp } from './desktopApp';

/** The notifications' polite live region. */
const politeRegion = () => within(screen.getByRole('region', { name: 'Notifications' })).getByRole('status');

/** The text of every live region of the notifications (polite status and assertive alerts). */
function heard(): string {
  const region = screen.getByRole('region', { name: 'Notifications' });
  return Array.from(region.querySelectorAll('[aria-live], [role=alert], [role=status]'))
    .map((el) => el.textContent ?? '')
    .join(' | ');
}

describe('results are announced', () => {
  it('a passing test: who, that it passed, and how fast', async () => {
    await desktopApp();
    fireEvent.click(screen.getByRole('button', { name: 'Test Relay Two' }));
    await waitFor(() => expect(heard()).toContain('Relay Two: test passed in 820 ms'));
    expect(politeRegion().textContent).toContain('Relay Two: test passed in 820 ms');
  });

  it('a failing test, as an alert with why', async () => {
    const backend = new FakeBackend();
    backend.testFailures.p3 = 'HTTP 404: Not Found — its base URL has no path';
    await desktopApp(backend);
    fireEvent.click(screen.getByRole('button', { name: 'Test Relay Three' }));
    const alert = await screen.findByTestId('toast-error');
    expect(alert.getAttribute('role')).toBe('alert');
    expect(alert.textContent).toContain('Relay Three: test failed');
    expect(alert.textContent).toContain('HTTP 404: Not Found — its base URL has no path');
  });

  it('Test all: each provider’s result as it comes in', async () => {
    const backend = new FakeBackend();
    backend.testFailures.p2 = 'HTTP 500: upstream explosion';
    await desktopApp(backend);
    fireEvent.click(screen.getByRole('button', { name: 'Test all' }));
    await waitFor(() => expect(heard()).toContain('Relay One: test passed'));
    await waitFor(() => expect(heard()).toContain('Relay Two: test failed'));
    expect(heard()).toContain('HTTP 500: upstream explosion');
  });

  it('a probe', async () => {
    await desktopApp();
    fireEvent.click(screen.getByRole('button', { name: 'Probe Relay One' }));
    await waitFor(() => expect(heard()).toContain('Relay One: probe OK, 2 models in 123 ms'));
  });

  it('a copy, heard though only a tick is seen', async () => {
    await desktopApp();
    const writeText = vi.fn(async () => {});
    Object.defineProperty(navigator, 'clipboard', { value: { writeText }, configurable: true });
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Copy gateway address' }));
    });
    expect(within(politeRegion()).getByText('Copied gateway address').className).toBe('sr-only');
    // Not a toast on screen: no dismiss button for it.
    expect(screen.queryByRole('button', { name: /^Dismiss/ })).toBeNull();
  });

  it('adding a provider, as deleting one is', async () => {
    await desktopApp();
    fireEvent.click(screen.getByRole('button', { name: 'Add provider' }));
    const dialog = screen.getByRole('dialog', { name: 'Add provider' });
    fireEvent.change(within(dialog).getByLabelText('Provider id'), { target: { value: 'p5' } });
    fireEvent.change(within(dialog).getByLabelText('Display name'), { target: { value: 'Relay Five' } });
    fireEvent.change(within(dialog).getByLabelText('Base URL'), { target: { value: 'https://five.example.com/v1' } });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Add provider' }));
    await screen.findByTestId('provider-row-p5');
    await waitFor(() => expect(politeRegion().textContent).toContain('Added Relay Five'));
  });
});

describe('what the notices say', () => {
  const failed: ProviderTest = {
    provider: 'g', unix_ms: 0, ok: false, model: 'gpt-5', latency_ms: 3, first_event_ms: null, streaming: false,
    tool_calls: null, models: [], error: '',
    steps: [{ name: 'stream', ok: false, status: 404, latency_ms: 1, error: 'Not Found' }],
  };

  it('a failed test without an error of its own says which step failed', () => {
    expect(testNotice(failed, 'Gamma')).toEqual({ tone: 'error', title: 'Gamma: test failed', message: 'Streamed response · HTTP 404 · Not Found' });
  });

  it('a passed test says what it found', () => {
    expect(testNotice({ ...failed, ok: true, latency_ms: 412, tool_calls: true, models: ['a', 'b'], steps: [] }, 'Alpha')).toEqual({
      tone: 'success', title: 'Alpha: test passed in 412 ms', message: 'Tool calls: yes · 2 models',
    });
  });

  it('a failed probe says why', () => {
    expect(probeNotice({ ok: false, status: 500, latency_ms: 5, models: [], error: '' }, 'Beta')).toEqual({
      tone: 'error', title: 'Beta: probe failed', message: 'HTTP 500',
    });
  });
});
