// Issue 15 on the dashboard: health from evidence, provider tests, templates and model maps,
// Connect Codex states, settings, events — against the fake backend.

import { act, fireEvent, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { codexButtonText } from '../src/features/shell/Header';
import { FakeBackend, FakeError } from './fakeBackend';
import { desktopApp } from './desktopApp';


const lastCall = (b: FakeBackend, method: string) => [...b.calls].reverse().find((c) => c.method === method);
const row = (id: string) => within(screen.getByTestId(`provider-row-${id}`));

describe('health follows evidence', () => {
  it('shows "all providers down" with the reason and what to do', async () => {
    const backend = new FakeBackend();
    for (const id of ['p1', 'p2', 'p3']) backend.state.providers[id].status = id === 'p2' ? 'unresponsive' : 'unhealthy';
    await desktopApp(backend);
    const banner = screen.getByRole('region', { name: 'All providers down' });
    expect(banner.textContent).toContain('all providers down');
    expect(within(banner).getByRole('alert').textContent).toMatch(/^All providers down\. .*Relay Two: unresponsive/);
    expect(banner.textContent).toContain('Relay Two: unresponsive');
    expect(banner.textContent).toContain('Check the providers’ keys and base URLs, or test them.');
    expect(screen.getByTestId('status-summary').dataset.state).toBe('down');
    expect(row('p2').getByText('Unresponsive').getAttribute('title')).toMatch(/did not answer in time/i);
  });

  it('a passing test turns an unresponsive provider healthy and leaves badges on its row', async () => {
    const backend = new FakeBackend();
    backend.state.providers.p2 = { ...backend.state.providers.p2, status: 'unresponsive', last_error: 'timed out after 60 s' };
    await desktopApp(backend);
    expect(screen.queryByTestId('test-badges-p2')).toBeNull();
    fireEvent.click(screen.getByRole('button', { name: 'Test Relay Two' }));
    const result = await screen.findByRole('group', { name: 'Test result for Relay Two' });
    await waitFor(() => expect(within(result).getByText('Passed')).toBeTruthy());
    expect(result.classList.contains('probe--passed') && !result.classList.contains('probe--failed')).toBe(true);
    expect(lastCall(backend, 'test_provider')?.args).toEqual({ provider: 'p2' });
    expect(within(result).getByTestId('test-latency-p2').textContent).toBe('820 ms');
    expect(result.textContent).toContain('first event 310 ms');
    expect(within(result).getByText('Streaming ✓')).toBeTruthy();
    expect(within(result).getByText('Tool calls ✓')).toBeTruthy();
    expect(within(result).getByTestId('test-models-p2').textContent).toBe('gpt-5.5, gpt-5.5-mini, o4-mini');
    // The model list is shown, not folded away behind its summary.
    expect(within(result).getByTestId('test-models-p2').closest('details')).toHaveProperty('open', true);
    expect(within(result).getByRole('list', { name: 'Steps of the test of Relay Two' }).textContent).toContain(
      '✓ Streamed response · HTTP 200 · 400 ms',
    );
    // The status is read again: the row is healthy, and the last test stays as badges.
    await waitFor(() => expect(row('p2').getByText('Healthy')).toBeTruthy());
    expect(screen.getByTestId('test-badges-p2').textContent).toBe('Test ✓ 820 msSSE ✓Tools ✓3 models');
    fireEvent.click(within(result).getByRole('button', { name: 'Close test result for Relay Two' }));
    expect(screen.queryByRole('group', { name: 'Test result for Relay Two' })).toBeNull();
    expect(screen.getByTestId('test-badges-p2')).toBeTruthy();
  });

  it("closes a probe's and a test's result once the provider's address or key changes: they spoke of the old one", async () => {
    const backend = new FakeBackend();
    await desktopApp(backend, 100);
    const shown = (what: string, name: string) => screen.queryByRole('group', { name: `${what} result for ${name}` });
    fireEvent.click(screen.getByRole('button', { name: 'Probe Relay Two' }));
    fireEvent.click(screen.getByRole('button', { name: 'Test Relay Two' }));
    fireEvent.click(screen.getByRole('button', { name: 'Probe Relay Three' }));
    await waitFor(() => expect(within(shown('Test', 'Relay Two')!).getByText('Passed')).toBeTruthy());
    await waitFor(() => expect(within(shown('Probe', 'Relay Two')!).getByText('OK')).toBeTruthy());
    backend.state.providers.p2 = { ...backend.state.providers.p2, base_url: 'https://elsewhere.example.com/v1' };
    await waitFor(() => expect(shown('Probe', 'Relay Two')).toBeNull());
    expect(shown('Test', 'Relay Two')).toBeNull();
    expect(shown('Probe', 'Relay Three')).toBeTruthy(); // its own address did not change
    fireEvent.click(screen.getByRole('button', { name: 'Probe Relay Two' }));
    await waitFor(() => expect(within(shown('Probe', 'Relay Two')!).getByText('OK')).toBeTruthy());
    backend.state.providers.p2 = { ...backend.state.providers.p2, key_preview: 'sk-n…WXYZ' };
    await waitFor(() => expect(shown('Probe', 'Relay Two')).toBeNull());
    expect(shown('Probe', 'Relay Three')).toBeTruthy();
  });

  it('a provider deleted and added again under its id does not inherit the old one\'s probe result', async () => {
    const backend = new FakeBackend();
    await desktopApp(backend, 100);
    const shown = () => screen.queryByRole('group', { name: 'Probe result for Relay Two' });
    fireEvent.click(screen.getByRole('button', { name: 'Probe Relay Two' }));
    await waitFor(() => expect(within(shown()!).getByText('OK')).toBeTruthy());
    const { p2: deleted, ...others } = backend.state.providers;
    backend.state.providers = others;
    backend.state.provider_order = backend.state.provider_order.filter((id) => id !== 'p2');
    await waitFor(() => expect(screen.queryByTestId('provider-row-p2')).toBeNull());
    backend.state.providers = { ...others, p2: { ...deleted, base_url: 'https://another.example.com/v1' } };
    backend.state.provider_order = [...backend.state.provider_order, 'p2'];
    await waitFor(() => expect(screen.queryByTestId('provider-row-p2')).toBeTruthy());
    expect(shown()).toBeNull();
  });

  it('keeps the focus on the Test button while it runs, and gives it back when its result is closed', async () => {
    const backend = new FakeBackend();
    backend.delayMs.test_provider = 300;
    await desktopApp(backend);
    const test = screen.getByRole('button', { name: 'Test Relay Two' });
    test.focus();
    fireEvent.click(test);
    await waitFor(() => expect(test.getAttribute('aria-disabled')).toBe('true'));
    expect(document.activeElement).toBe(test); // busy, not disabled: the keyboard user stays where they were
    fireEvent.click(test); // a second press while it runs asks nothing more
    const result = await screen.findByRole('group', { name: 'Test result for Relay Two' });
    await waitFor(() => expect(within(result).getByText('Passed')).toBeTruthy());
    expect(backend.methods().filter((m) => m === 'test_provider')).toHaveLength(1);
    fireEvent.click(within(result).getByRole('button', { name: 'Close test result for Relay Two' }));
    expect(document.activeElement).toBe(screen.getByRole('button', { name: 'Test Relay Two' }));
  });

  it('a failing test says why, in full, and the row says "Test ✗"', async () => {
    const backend = new FakeBackend();
    const why = 'HTTP 401 from https://two.example.com/v1/responses: invalid api key — set the key for Relay Two';
    backend.testFailures.p2 = why;
    await desktopApp(backend);
    fireEvent.click(screen.getByRole('button', { name: 'Test Relay Two' }));
    const result = await screen.findByRole('group', { name: 'Test result for Relay Two' });
    await waitFor(() => expect(within(result).getByText('Failed')).toBeTruthy());
    expect(result.classList.contains('probe--failed') && !result.classList.contains('probe--passed')).toBe(true); // its stripe
    expect(result.textContent).toContain(why);
    // A step not run is neither passed nor failed, and took no time.
    const notRun = within(result).getByText(/Tool call · not asked/);
    expect(notRun.textContent).toBe('– Tool call · not asked: the provider did not answer the streamed request in time');
    expect(notRun.className).toBe('muted');
    await waitFor(() => expect(screen.getByTestId('test-badges-p2').textContent).toContain('Test ✗'));
    expect(row('p2').getByText('Healthy')).toBeTruthy(); // a failed test does not heal, nor does it count against
  });

  it('"Test all" tests every enabled provider', async () => {
    const { backend } = await desktopApp();
    fireEvent.click(screen.getByRole('button', { name: 'Test all' }));
    for (const name of ['Relay One', 'Relay Two', 'Relay Three']) {
      const result = await screen.findByRole('group', { name: `Test result for ${name}` });
      await waitFor(() => expect(within(result).getByText('Passed')).toBeTruthy());
    }
    expect(screen.queryByRole('group', { name: 'Test result for Relay Four' })).toBeNull();
    // Each on its own (a row's result as soon as it is in): one test_provider per enabled provider.
    expect(backend.methods().filter((m) => m === 'test_provider')).toHaveLength(3);
    expect(screen.getByRole('button', { name: 'Test Relay Four' })).toHaveProperty('disabled', true);
  });
});

describe('the provider dialog', () => {
  it('prefills URL shape and usage adapter from a template', async () => {
    const { backend } = await desktopApp();
    fireEvent.click(screen.getByRole('button', { name: 'Add provider' }));
    const dialog = screen.getByRole('dialog', { name: 'Add provider' });
    const template = within(dialog).getByLabelText('Template') as HTMLSelectElement;
    expect([...template.options].map((o) => o.text)).toEqual([
      'Generic OpenAI-compatible',
      'OpenAI',
      'Azure OpenAI',
      'new-api/one-api style relay',
    ]);
    const url = within(dialog).getByLabelText('Base URL') as HTMLInputElement;

    fireEvent.change(template, { target: { value: 'azure' } });
    expect(url.value).toBe('https://<resource>.openai.azure.com/openai/v1');
    fireEvent.change(within(dialog).getByLabelText('Provider id'), { target: { value: 'az' } });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Add provider' }));
    expect(within(dialog).getByText('Replace <resource> in the URL')).toBeTruthy();
    expect(lastCall(backend, 'upsert_provider')).toBeUndefined();

    // An untouched template URL follows the template; the usage adapter comes with it.
    fireEvent.change(template, { target: { value: 'relay' } });
    expect(url.value).toBe('https://<host>/v1');
    expect(within(dialog).getByText(/Usage adapter: new_api\./)).toBeTruthy();
    fireEvent.change(url, { target: { value: 'https://relay.five.example.com/v1' } });
    fireEvent.change(template, { target: { value: 'openai' } });
    expect(url.value).toBe('https://relay.five.example.com/v1'); // typed URLs are kept
    fireEvent.change(template, { target: { value: 'relay' } });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Add provider' }));
    await screen.findByTestId('provider-row-az');
    expect(lastCall(backend, 'upsert_provider')?.args).toEqual({
      provider: 'az',
      create: true,
      base_url: 'https://relay.five.example.com/v1',
      usage_adapter: 'new_api',
    });
  });

  it('warns (without refusing) when a base URL has no path', async () => {
    await desktopApp();
    fireEvent.click(screen.getByRole('button', { name: 'Add provider' }));
    const dialog = screen.getByRole('dialog', { name: 'Add provider' });
    fireEvent.change(within(dialog).getByLabelText('Base URL'), { target: { value: 'https://relay.six.example.com' } });
    expect(within(dialog).getByTestId('base-url-no-path').textContent).toMatch(
      /no path: most providers expect …\/v1 \(e\.g\. https:\/\/relay\.six\.example\.com\/v1\)/,
    );
    fireEvent.change(within(dialog).getByLabelText('Base URL'), { target: { value: 'https://relay.six.example.com/v1' } });
    expect(within(dialog).queryByTestId('base-url-no-path')).toBeNull();
  });

  it('edits the model map: rows, * for any other model, validation', async () => {
    const { backend } = await desktopApp();
    fireEvent.click(screen.getByRole('button', { name: 'Edit Relay Two' }));
    const dialog = screen.getByRole('dialog', { name: 'Edit Relay Two' });
    expect((within(dialog).getByLabelText('Requested model 1') as HTMLInputElement).value).toBe('gpt-5.5');
    expect((within(dialog).getByLabelText('Provider model 1') as HTMLInputElement).value).toBe('openai/gpt-5.5');

    fireEvent.click(within(dialog).getByRole('button', { name: 'Add mapping' }));
    fireEvent.change(within(dialog).getByLabelText('Requested model 2'), { target: { value: 'gpt-5.5' } });
    fireEvent.change(within(dialog).getByLabelText('Provider model 2'), { target: { value: 'x' } });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Save changes' }));
    expect(within(dialog).getByRole('alert').textContent).toBe('gpt-5.5 is mapped twice');
    expect(lastCall(backend, 'upsert_provider')).toBeUndefined();

    fireEvent.change(within(dialog).getByLabelText('Requested model 2'), { target: { value: '*' } });
    fireEvent.change(within(dialog).getByLabelText('Provider model 2'), { target: { value: 'openai/gpt-5.5-mini' } });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Save changes' }));
    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());
    expect(lastCall(backend, 'upsert_provider')?.args).toEqual({
      provider: 'p2',
      model_map: { 'gpt-5.5': 'openai/gpt-5.5', '*': 'openai/gpt-5.5-mini' },
    });

    // Removing every row clears the map ({}).
    fireEvent.click(screen.getByRole('button', { name: 'Edit Relay Two' }));
    const again = screen.getByRole('dialog', { name: 'Edit Relay Two' });
    await waitFor(() => expect(within(again).getByLabelText('Requested model 2')).toBeTruthy());
    fireEvent.click(within(again).getByRole('button', { name: 'Remove mapping 2' }));
    fireEvent.click(within(again).getByRole('button', { name: 'Remove mapping 1' }));
    fireEvent.click(within(again).getByRole('button', { name: 'Save changes' }));
    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());
    expect(lastCall(backend, 'upsert_provider')?.args).toEqual({ provider: 'p2', model_map: {} });
  });
});

describe('Connect Codex states', () => {
  it('shows "token out of date" in the header and offers to rewrite auth.json', async () => {
    const backend = new FakeBackend();
    backend.codex = { ...backend.codex, configured: true, has_backup: true };
    backend.codexTokenStale = true;
    await desktopApp(backend);
    const button = screen.getByRole('button', { name: /^Connect Codex/ });
    await waitFor(() => expect(button.dataset.codexState).toBe('token_out_of_date'));
    expect(button.getAttribute('title')).toMatch(/old gateway token/);
    // The header button says where Codex stands, in so many words.
    expect(button.textContent?.trim()).toBe('Connect Codex · token out of date');
    expect(screen.getByRole('button', { name: 'Connect Codex · token out of date' })).toBe(button);
    fireEvent.click(button);
    const dialog = screen.getByRole('dialog', { name: 'Connect Codex' });
    await waitFor(() => expect(within(dialog).getByTestId('codex-state').textContent).toContain('Token out of date'));
    expect(within(dialog).getByRole('alert').textContent).toMatch(/auth\.json holds another token/);
    fireEvent.click(within(dialog).getByRole('button', { name: 'Rewrite auth.json' }));
    await waitFor(() => expect(within(dialog).getByTestId('codex-state').textContent).toContain('Connected'));
    expect(lastCall(backend, 'apply_codex_setup')).toBeTruthy();
    expect(button.dataset.codexState).toBe('connected');
    expect(button.textContent?.trim()).toBe('Connect Codex · connected');
  });

  it('says "not connected" on the button and in its tooltip until Codex is set up', async () => {
    await desktopApp();
    const button = screen.getByRole('button', { name: /^Connect Codex/ });
    await waitFor(() => expect(button.dataset.codexState).toBe('not_connected'));
    expect(screen.getByRole('button', { name: 'Connect Codex · not connected' })).toBe(button);
    expect(button.getAttribute('title')).toMatch(/not connected/);
    expect(codexButtonText('not_connected')).toBe('Connect Codex · not connected');
    expect(codexButtonText(null)).toBe('Connect Codex');
    expect(codexButtonText('connected')).toBe('Connect Codex · connected');
    expect(codexButtonText('token_out_of_date')).toBe('Connect Codex · token out of date');
  });

  it('reads the Codex state again after the gateway token is rotated', async () => {
    const { backend } = await desktopApp();
    const reads = () => backend.methods().filter((m) => m === 'get_codex_setup').length;
    await waitFor(() => expect(reads()).toBe(1));
    fireEvent.click(screen.getByRole('button', { name: 'Rotate gateway token' }));
    fireEvent.click(within(screen.getByRole('alertdialog')).getByRole('button', { name: 'Rotate token' }));
    await waitFor(() => expect(reads()).toBe(2));
    expect(backend.methods().indexOf('rotate_gateway_token')).toBeLessThan(backend.methods().lastIndexOf('get_codex_setup'));
  });
});

describe('settings', () => {
  it('loads, then saves the changed ui and request-log settings with their own calls', async () => {
    const { backend } = await desktopApp();
    fireEvent.click(screen.getByRole('button', { name: 'Settings' }));
    const dialog = screen.getByRole('dialog', { name: 'Settings' });
    await within(dialog).findByLabelText('Start with the system');
    expect(within(dialog).getByTestId('autostart-info').textContent).toBe(
      'Would be installed at /home/u/.config/autostart/api-router.desktop',
    );
    expect(within(dialog).getByLabelText('Start hidden in the tray')).toHaveProperty('checked', true);
    fireEvent.click(within(dialog).getByLabelText('Start with the system'));
    fireEvent.click(within(dialog).getByLabelText('A request fails over'));
    fireEvent.change(within(dialog).getByLabelText('Quota warning below (%)'), { target: { value: '20' } });
    fireEvent.change(within(dialog).getByLabelText('Keep requests for (days)'), { target: { value: '0' } });
    expect(within(dialog).getByText('Between 1 and 3,650')).toBeTruthy();
    expect(within(dialog).getByRole('button', { name: 'Save settings' })).toHaveProperty('disabled', true);
    fireEvent.change(within(dialog).getByLabelText('Keep requests for (days)'), { target: { value: '7' } });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Save settings' }));
    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());
    expect(lastCall(backend, 'update_ui')?.args).toEqual({ autostart: true, notify_failover: false, notify_quota_percent: 20 });
    expect(lastCall(backend, 'update_request_log')?.args).toEqual({ retention_days: 7 });
    expect(backend.ui.autostart).toBe(true);
  });

  it('cannot turn on autostart where it is not supported, and shows a refused save in full', async () => {
    const backend = new FakeBackend();
    backend.autostartSupported = false;
    await desktopApp(backend);
    fireEvent.click(screen.getByRole('button', { name: 'Settings' }));
    const dialog = screen.getByRole('dialog', { name: 'Settings' });
    expect(await within(dialog).findByLabelText('Start with the system')).toHaveProperty('disabled', true);
    expect(within(dialog).getByTestId('autostart-info').textContent).toMatch(/not supported/);
    backend.failNext.update_ui = new FakeError('could not write /home/u/.config/autostart/api-router.desktop: permission denied');
    fireEvent.click(within(dialog).getByLabelText('Start hidden in the tray'));
    fireEvent.click(within(dialog).getByRole('button', { name: 'Save settings' }));
    // Shown in the dialog, kept open; no toast over it.
    const error = await within(dialog).findByTestId('dialog-error');
    expect(error.textContent).toContain('could not write /home/u/.config/autostart/api-router.desktop: permission denied');
    expect(screen.queryByTestId('toast-error')).toBeNull();
    expect(screen.getByRole('dialog', { name: 'Settings' })).toBeTruthy();
  });
});

describe('events', () => {
  it('shows routine cooldowns as warnings and says what "Clear seen" does', async () => {
    const backend = new FakeBackend();
    backend.state.recent_events = [
      { id: 9, unix_ms: backend.state.now_unix_ms, level: 'error', provider: 'p3', kind: 'cooldown', message: 'Relay Three cooling down for 30 s', seen: false },
      ...backend.state.recent_events,
    ];
    await desktopApp(backend);
    const ev = screen.getByTestId('event-9');
    expect(ev.dataset.level).toBe('warning');
    expect(within(ev).getByText('Warning')).toBeTruthy();
    fireEvent.change(screen.getByLabelText('Level'), { target: { value: 'error' } });
    expect(screen.queryByTestId('event-9')).toBeNull();
    const provider = screen.getByLabelText('Provider') as HTMLSelectElement;
    expect([...provider.options].map((o) => o.text)).toContain('Relay Three');
    // The "Clear seen", and what it does in so many words.
    const clear = screen.getByRole('button', { name: /^Clear seen/ });
    expect(clear.textContent).toBe('Clear seen (mark all as seen)');
    expect(clear.getAttribute('title')).toMatch(/Marks every event as seen/);
  });
});

describe('errors say what to do', () => {
  it('shows a long backend message in full', async () => {
    const { backend } = await desktopApp();
    const message =
      'provider p1 is locked (routing is locked to Relay One); unlock it first. Skipped: Relay Two (cooldown, 27 s left), ' +
      'Relay Three (out of quota: daily budget spent). Base URLs usually end in /v1 — https://relay.example.com has no path.';
    backend.failNext.set_provider_disabled = new FakeError(message);
    fireEvent.click(screen.getByRole('button', { name: 'Disable Relay One' }));
    const toast = await screen.findByTestId('toast-error');
    expect(toast.textContent).toContain(message);
    await act(async () => {});
  });

  it('names the provider in toasts', async () => {
    const { backend } = await desktopApp();
    backend.failNext.test_provider = new FakeError('no API key set');
    fireEvent.click(screen.getByRole('button', { name: 'Test Relay Three' }));
    const toast = await screen.findByTestId('toast-error');
    expect(toast.textContent).toContain('Could not test Relay Three');
    expect(toast.textContent).toContain('no API key set');
  });
});

describe('back to the preferred provider', () => {
  it('with automatic return off, the Gateway card offers going back from the fallback and picks the preferred one again', async () => {
    const backend = new FakeBackend();
    backend.state.routing = { ...backend.state.routing, auto_return_to_preferred: false };
    backend.state.active_provider = 'p2';
    backend.state.active_reason = 'Relay One answers again; automatic return to the preferred provider is off';
    await desktopApp(backend);
    const back = await screen.findByTestId('return-to-preferred');
    expect(back.textContent).toBe('Back to Relay One');
    back.focus();
    fireEvent.click(back);
    await waitFor(() => expect(lastCall(backend, 'set_preferred_provider')?.args).toEqual({ provider: 'p1' }));
    // The button leaves with the fallback: the focus goes to the line that says who serves now, not the page.
    expect(document.activeElement).toBe(screen.getByTestId('status-active'));
  });

  it('keeps "first in list" as it is: the setting is sent back unchanged, not pinned to the provider', async () => {
    const backend = new FakeBackend();
    backend.state.routing = { ...backend.state.routing, auto_return_to_preferred: false, preferred_provider: '' };
    backend.state.active_provider = 'p2';
    await desktopApp(backend);
    const back = await screen.findByTestId('return-to-preferred');
    expect(back.textContent).toBe('Back to Relay One');
    fireEvent.click(back);
    await waitFor(() => expect(lastCall(backend, 'set_preferred_provider')?.args).toEqual({ provider: null }));
  });

  it('is not offered while automatic return is on', async () => {
    const backend = new FakeBackend();
    backend.state.active_provider = 'p2';
    await desktopApp(backend);
    expect(screen.getByTestId('status-active').textContent).toContain('Relay Two');
    expect(screen.queryByTestId('return-to-preferred')).toBeNull();
  });
});
