import { act, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { App } from '../src/App';
import { TOKEN_STORAGE_KEY, createDesktopBridge, createHttpBridge, sessionTokenStore } from '../src/bridge';
import { FakeBackend, FakeError } from './fakeBackend';

function browserApp(backend = new FakeBackend(), pollIntervalMs = 40) {
  const bridge = createHttpBridge({ fetch: backend.fetch, tokenStore: sessionTokenStore(window.sessionStorage) });
  render(<App bridge={bridge} pollIntervalMs={pollIntervalMs} />);
  return { backend, bridge };
}

async function desktopApp(backend = new FakeBackend()) {
  const bridge = createDesktopBridge(backend.pywebviewApi());
  // Long poll interval: actions refresh the status themselves.
  render(<App bridge={bridge} pollIntervalMs={60_000} />);
  await screen.findByTestId('provider-row-p1');
  return { backend, bridge };
}

const tokenInput = () => screen.getByLabelText('Gateway token');
const connect = () => fireEvent.click(screen.getByRole('button', { name: 'Connect' }));
const lastCall = (b: FakeBackend, method: string) => [...b.calls].reverse().find((c) => c.method === method);

describe('browser mode: token gate', () => {
  it('asks for the token first and refuses a wrong one with a clear message', async () => {
    const { backend } = browserApp();
    expect(screen.queryByTestId('gateway-url')).toBeNull();
    expect(tokenInput()).toHaveProperty('type', 'password');
    fireEvent.change(tokenInput(), { target: { value: 'ao_wrong' } });
    connect();
    expect((await screen.findByRole('alert')).textContent).toBe('That token was refused by the gateway');
    expect(screen.queryByTestId('gateway-url')).toBeNull();
    expect(sessionStorage.getItem(TOKEN_STORAGE_KEY)).toBeNull();

    fireEvent.change(tokenInput(), { target: { value: `  ${backend.token} ` } });
    connect();
    expect((await screen.findByTestId('gateway-url')).textContent).toBe('http://127.0.0.1:4000/v1');
    expect(sessionStorage.getItem(TOKEN_STORAGE_KEY)).toBe(backend.token);
  });

  it('verifies a remembered token before showing the dashboard', async () => {
    const backend = new FakeBackend();
    sessionStorage.setItem(TOKEN_STORAGE_KEY, backend.token);
    browserApp(backend);
    expect(screen.getByText('Checking the saved token…')).toBeTruthy();
    await screen.findByTestId('gateway-url');
    expect(backend.calls[0].method).toBe('get_status');
  });

  it('drops a remembered token the gateway refuses', async () => {
    sessionStorage.setItem(TOKEN_STORAGE_KEY, 'ao_stale');
    browserApp();
    expect((await screen.findByRole('alert')).textContent).toBe('That token was refused by the gateway');
    expect(sessionStorage.getItem(TOKEN_STORAGE_KEY)).toBeNull();
  });

  it('"Forget token" returns to the prompt and clears the session', async () => {
    const backend = new FakeBackend();
    sessionStorage.setItem(TOKEN_STORAGE_KEY, backend.token);
    browserApp(backend);
    fireEvent.click(await screen.findByRole('button', { name: 'Forget token' }));
    expect(tokenInput()).toBeTruthy();
    expect(sessionStorage.getItem(TOKEN_STORAGE_KEY)).toBeNull();
  });

  it('goes back to the prompt when the token stops working mid-session', async () => {
    const backend = new FakeBackend();
    sessionStorage.setItem(TOKEN_STORAGE_KEY, backend.token);
    browserApp(backend);
    await screen.findByTestId('gateway-url');
    backend.token = 'ao_rotated_elsewhere';
    expect((await screen.findByRole('alert')).textContent).toBe('That token was refused by the gateway');
    expect(tokenInput()).toBeTruthy();
  });

  it('keeps working after rotating the token from the UI', async () => {
    const backend = new FakeBackend();
    sessionStorage.setItem(TOKEN_STORAGE_KEY, backend.token);
    browserApp(backend);
    await screen.findByTestId('gateway-url');
    await waitFor(() => expect(screen.getByTestId('gateway-token').textContent).toBe('ao_••••••••1234'));

    fireEvent.click(screen.getByRole('button', { name: 'Rotate gateway token' }));
    const dialog = screen.getByRole('alertdialog', { name: 'Rotate the gateway token?' });
    expect(dialog.getAttribute('aria-modal')).toBe('true');
    expect(document.activeElement).toBe(within(dialog).getByRole('button', { name: 'Cancel' }));
    fireEvent.click(within(dialog).getByRole('button', { name: 'Rotate token' }));

    await waitFor(() => expect(screen.queryByRole('alertdialog')).toBeNull());
    expect(sessionStorage.getItem(TOKEN_STORAGE_KEY)).toBe('ao_second_token_5678');
    await waitFor(() => expect(screen.getByTestId('gateway-token').textContent).toBe('ao_••••••••5678'));
    fireEvent.click(screen.getByRole('button', { name: 'Show gateway token' }));
    expect(screen.getByTestId('gateway-token').textContent).toBe('ao_second_token_5678');

    // Polling continues with the new token: no 401, no prompt.
    const n = backend.calls.length;
    await waitFor(() => expect(backend.calls.length).toBeGreaterThan(n + 2));
    expect(backend.methods().some((m) => m.startsWith('401:'))).toBe(false);
    expect(screen.queryByLabelText('Gateway token')).toBeNull();
  });
});

describe('dashboard', () => {
  it('shows status, providers in order, health, cooldown countdown and events', async () => {
    await desktopApp();
    expect(screen.queryByRole('button', { name: 'Forget token' })).toBeNull(); // desktop: no token prompt
    expect(screen.getByTestId('status-preferred').textContent).toBe('p1');
    expect(screen.getByTestId('status-lock').textContent).toBe('Automatic');
    expect(screen.getByTestId('status-active').textContent).toContain('preferred provider');

    const rows = screen.getAllByTestId(/^provider-row-/).map((r) => r.getAttribute('data-provider-id'));
    expect(rows).toEqual(['p1', 'p2', 'p3', 'p4']);
    const p3 = within(screen.getByTestId('provider-row-p3'));
    expect(p3.getByText('Cooldown')).toBeTruthy();
    expect(p3.getByLabelText(/Cooldown of p3: 0:2\d left/)).toBeTruthy();
    expect(p3.getByText('2.5M')).toBeTruthy();
    expect(within(screen.getByTestId('provider-row-p4')).getByText('Disabled')).toBeTruthy();
    expect(within(screen.getByTestId('provider-row-p1')).getByText('12.3k')).toBeTruthy();
    expect(screen.getByTestId('key-preview-p1').textContent).toBe('sk-a…9f2c');

    // Last error: truncated, full text on hover (title) and on click.
    const err = p3.getByRole('button', { name: /Last error of p3/ });
    expect(err.getAttribute('title')).toBe('upstream 502: bad gateway while reading the response body from the relay');
    expect(err.getAttribute('aria-expanded')).toBe('false');
    fireEvent.click(err);
    expect(err.getAttribute('aria-expanded')).toBe('true');

    expect(screen.getByTestId('unseen-count').textContent).toBe('2 unseen');
    expect(screen.getByTestId('event-3').getAttribute('data-level')).toBe('error');
    expect(within(screen.getByTestId('event-3')).getByText('Error')).toBeTruthy();
  });

  it('locks, unlocks and sets the preferred provider', async () => {
    const { backend } = await desktopApp();
    fireEvent.change(screen.getByLabelText('Lock routing to'), { target: { value: 'p2' } });
    await waitFor(() => expect(screen.getByTestId('status-lock').textContent).toBe('Locked to p2'));
    expect(lastCall(backend, 'set_manual_override')?.args).toEqual({ provider: 'p2' });

    fireEvent.click(screen.getByRole('button', { name: 'Back to automatic' }));
    await waitFor(() => expect(screen.getByTestId('status-lock').textContent).toBe('Automatic'));
    expect(lastCall(backend, 'set_manual_override')?.args).toEqual({ provider: null });

    fireEvent.change(screen.getByLabelText('Preferred provider'), { target: { value: 'p3' } });
    await waitFor(() => expect(screen.getByTestId('status-preferred').textContent).toBe('p3'));
    expect(lastCall(backend, 'set_preferred_provider')?.args).toEqual({ provider: 'p3' });
  });

  it('validates routing values inline and sends only valid ones', async () => {
    const { backend } = await desktopApp();
    fireEvent.change(screen.getByLabelText('Failure threshold'), { target: { value: '0' } });
    fireEvent.change(screen.getByLabelText('Cooldown (s)'), { target: { value: '45' } });
    expect(screen.getByText('Must be at least 1')).toBeTruthy();
    expect(screen.getByLabelText('Failure threshold').getAttribute('aria-invalid')).toBe('true');

    fireEvent.click(screen.getByRole('button', { name: 'Save routing' }));
    await waitFor(() => expect(lastCall(backend, 'update_routing')).toBeTruthy());
    expect(lastCall(backend, 'update_routing')?.args).toEqual({ cooldown_seconds: 45 });
    expect(screen.getByText('Must be at least 1')).toBeTruthy();
  });

  it('adds a provider after validating, with an optional key', async () => {
    const { backend } = await desktopApp();
    fireEvent.click(screen.getByRole('button', { name: 'Add provider' }));
    const dialog = screen.getByRole('dialog', { name: 'Add provider' });
    expect(document.activeElement).toBe(within(dialog).getByLabelText('Provider id'));
    fireEvent.change(within(dialog).getByLabelText('Provider id'), { target: { value: 'p1' } });
    fireEvent.change(within(dialog).getByLabelText('Base URL'), { target: { value: 'relay.five/v1' } });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Add provider' }));
    expect(within(dialog).getByText('A provider called "p1" already exists')).toBeTruthy();
    expect(within(dialog).getByText('The URL must start with http:// or https://')).toBeTruthy();
    expect(lastCall(backend, 'upsert_provider')).toBeUndefined();

    fireEvent.change(within(dialog).getByLabelText('Provider id'), { target: { value: 'p5' } });
    fireEvent.change(within(dialog).getByLabelText('Display name'), { target: { value: 'Relay Five' } });
    fireEvent.change(within(dialog).getByLabelText('Base URL'), { target: { value: 'https://five.example.com/v1' } });
    const key = within(dialog).getByLabelText('API key (optional)');
    expect(key.getAttribute('type')).toBe('password');
    fireEvent.change(key, { target: { value: 'sk-five-secret-0001' } });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Add provider' }));

    await screen.findByTestId('provider-row-p5');
    expect(screen.queryByRole('dialog')).toBeNull();
    expect(lastCall(backend, 'upsert_provider')?.args).toEqual({
      provider: 'p5',
      display_name: 'Relay Five',
      base_url: 'https://five.example.com/v1',
    });
    expect(lastCall(backend, 'set_provider_key')?.args).toEqual({ provider: 'p5', key: 'sk-five-secret-0001' });
    await waitFor(() => expect(screen.getByTestId('key-preview-p5').textContent).toBe('sk-f…0001'));
    expect(document.body.textContent).not.toContain('sk-five-secret-0001');
  });

  it('accepts an upper-case scheme and saves it in lower case; refuses a name over 200 characters', async () => {
    const { backend } = await desktopApp();
    fireEvent.click(screen.getByRole('button', { name: 'Add provider' }));
    const dialog = screen.getByRole('dialog', { name: 'Add provider' });
    fireEvent.change(within(dialog).getByLabelText('Provider id'), { target: { value: 'p6' } });
    fireEvent.change(within(dialog).getByLabelText('Display name'), { target: { value: 'n'.repeat(201) } });
    fireEvent.change(within(dialog).getByLabelText('Base URL'), { target: { value: ' HTTPS://Six.Example.com/v1 ' } });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Add provider' }));
    expect(within(dialog).getByText('Keep the display name to 200 characters (it has 201)')).toBeTruthy();
    expect(lastCall(backend, 'upsert_provider')).toBeUndefined();

    fireEvent.change(within(dialog).getByLabelText('Display name'), { target: { value: 'n'.repeat(200) } });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Add provider' }));
    await screen.findByTestId('provider-row-p6');
    expect(lastCall(backend, 'upsert_provider')?.args).toEqual({
      provider: 'p6',
      display_name: 'n'.repeat(200),
      base_url: 'https://Six.Example.com/v1',
    });
  });

  it('edits, renames, sets and clears a key, disables and deletes', async () => {
    const { backend } = await desktopApp();

    fireEvent.click(screen.getByRole('button', { name: 'Edit p2' }));
    let dialog = screen.getByRole('dialog', { name: 'Edit p2' });
    fireEvent.change(within(dialog).getByLabelText('Display name'), { target: { value: 'Second' } });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Save changes' }));
    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());
    expect(lastCall(backend, 'upsert_provider')?.args).toEqual({ provider: 'p2', display_name: 'Second' });

    fireEvent.click(screen.getByRole('button', { name: 'Rename p2' }));
    dialog = screen.getByRole('dialog', { name: 'Rename p2' });
    fireEvent.change(within(dialog).getByLabelText('New provider id'), { target: { value: 'bad id' } });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Rename' }));
    expect(within(dialog).getByRole('alert').textContent).toMatch(/letters, digits/);
    fireEvent.change(within(dialog).getByLabelText('New provider id'), { target: { value: 'second' } });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Rename' }));
    await screen.findByTestId('provider-row-second');
    expect(lastCall(backend, 'rename_provider')?.args).toEqual({ provider: 'p2', new_id: 'second' });

    fireEvent.click(screen.getByRole('button', { name: 'Set key for p4' }));
    dialog = screen.getByRole('dialog', { name: 'API key for p4' });
    const keyInput = within(dialog).getByLabelText('New API key');
    expect(keyInput.getAttribute('type')).toBe('password');
    fireEvent.click(within(dialog).getByRole('button', { name: 'Save key' }));
    expect(within(dialog).getByRole('alert').textContent).toBe('Enter the API key');
    fireEvent.change(keyInput, { target: { value: 'sk-four-key-9999' } });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Save key' }));
    await waitFor(() => expect(screen.getByTestId('key-preview-p4').textContent).toBe('sk-f…9999'));

    fireEvent.click(screen.getByRole('button', { name: 'Change key for p4' }));
    dialog = screen.getByRole('dialog', { name: 'API key for p4' });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Clear key' }));
    await waitFor(() => expect(screen.queryByTestId('key-preview-p4')).toBeNull());
    expect(lastCall(backend, 'clear_provider_key')?.args).toEqual({ provider: 'p4' });

    fireEvent.click(screen.getByRole('button', { name: 'Enable p4' }));
    await waitFor(() => expect(screen.getByRole('button', { name: 'Disable p4' })).toBeTruthy());
    expect(lastCall(backend, 'set_provider_disabled')?.args).toEqual({ provider: 'p4', disabled: false });

    fireEvent.click(screen.getByRole('button', { name: 'Delete p1' }));
    dialog = screen.getByRole('alertdialog', { name: 'Delete p1?' });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Cancel' }));
    expect(lastCall(backend, 'delete_provider')).toBeUndefined();
    fireEvent.click(screen.getByRole('button', { name: 'Delete p1' }));
    dialog = screen.getByRole('alertdialog', { name: 'Delete p1?' });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Delete provider' }));
    await waitFor(() => expect(screen.queryByTestId('provider-row-p1')).toBeNull());
  });

  it('reorders by keyboard, by buttons and by drag and drop', async () => {
    const { backend } = await desktopApp();
    const order = () => screen.getAllByTestId(/^provider-row-/).map((r) => r.getAttribute('data-provider-id'));

    const handle = screen.getByRole('button', { name: 'Reorder p1' });
    handle.focus();
    fireEvent.keyDown(handle, { key: 'ArrowDown' });
    expect(order()).toEqual(['p2', 'p1', 'p3', 'p4']); // at once (optimistic)
    await waitFor(() => expect(lastCall(backend, 'set_provider_order')?.args).toEqual({ order: ['p2', 'p1', 'p3', 'p4'] }));
    expect(document.activeElement).toBe(screen.getByRole('button', { name: 'Reorder p1' }));

    fireEvent.click(screen.getByRole('button', { name: 'Move p4 up' }));
    await waitFor(() => expect(backend.state.provider_order).toEqual(['p2', 'p1', 'p4', 'p3']));
    expect(screen.getByRole('button', { name: 'Move p2 up' })).toHaveProperty('disabled', true);

    const data = new Map<string, string>();
    const dataTransfer = {
      setData: (k: string, v: string) => data.set(k, v),
      getData: (k: string) => data.get(k) ?? '',
      effectAllowed: '',
      dropEffect: '',
    };
    fireEvent.dragStart(screen.getByRole('button', { name: 'Reorder p3' }), { dataTransfer });
    fireEvent.dragOver(screen.getByTestId('provider-row-p2'), { dataTransfer }); // jsdom: no geometry → lower half
    expect(screen.getByTestId('provider-row-p2').className).toContain('prow--drop-after');
    fireEvent.drop(screen.getByTestId('provider-row-p2'), { dataTransfer });
    await waitFor(() => expect(backend.state.provider_order).toEqual(['p2', 'p3', 'p1', 'p4']));
    await waitFor(() => expect(order()).toEqual(['p2', 'p3', 'p1', 'p4']));
    expect(screen.getByTestId('provider-row-p2').className).not.toContain('prow--drop');
  });

  it('probes a provider and shows the result inline', async () => {
    await desktopApp();
    fireEvent.click(screen.getByRole('button', { name: 'Probe p1' }));
    const result = await screen.findByRole('group', { name: 'Probe result for p1' });
    await waitFor(() => expect(within(result).getByText('OK')).toBeTruthy());
    expect(within(result).getByTestId('probe-status-p1').textContent).toBe('200');
    expect(result.textContent).toContain('latency 123 ms');
    expect(result.textContent).toContain('models 2 (gpt-5, gpt-5-mini)');
    expect(result.closest('tr')?.getAttribute('data-testid')).toBe('provider-detail-p1');
    fireEvent.click(within(result).getByRole('button', { name: 'Close probe result for p1' }));
    expect(screen.queryByRole('group', { name: 'Probe result for p1' })).toBeNull();
  });

  it('shows the backend message in a toast when an action fails', async () => {
    const { backend } = await desktopApp();
    backend.failNext.set_provider_disabled = new FakeError('provider p1 is locked; unlock first');
    fireEvent.click(screen.getByRole('button', { name: 'Disable p1' }));
    const toast = await screen.findByTestId('toast-error');
    expect(toast.textContent).toContain('Could not disable p1');
    expect(toast.textContent).toContain('provider p1 is locked; unlock first');
    fireEvent.click(within(toast).getByRole('button', { name: 'Dismiss notification' }));
    expect(screen.queryByTestId('toast-error')).toBeNull();
  });

  it('filters events and clears seen', async () => {
    const { backend } = await desktopApp();
    const ids = () => screen.queryAllByTestId(/^event-/).map((e) => e.getAttribute('data-testid'));
    expect(ids()).toEqual(['event-3', 'event-2', 'event-1']);
    fireEvent.change(screen.getByLabelText('Level'), { target: { value: 'error' } });
    expect(ids()).toEqual(['event-3']);
    fireEvent.change(screen.getByLabelText('Level'), { target: { value: 'all' } });
    fireEvent.change(screen.getByLabelText('Provider'), { target: { value: '' } });
    expect(ids()).toEqual(['event-1']);
    fireEvent.change(screen.getByLabelText('Provider'), { target: { value: 'p3' } });
    expect(ids()).toEqual(['event-3', 'event-2']);
    fireEvent.change(screen.getByLabelText('Provider'), { target: { value: 'all' } });
    fireEvent.click(screen.getByLabelText('Hide seen'));
    expect(ids()).toEqual(['event-3', 'event-2']);
    fireEvent.click(screen.getByLabelText('Hide seen'));

    fireEvent.click(screen.getByRole('button', { name: 'Clear seen' }));
    await waitFor(() => expect(screen.getByTestId('unseen-count').textContent).toBe('0 unseen'));
    expect(lastCall(backend, 'mark_events_seen')).toBeTruthy();
    expect(screen.getByTestId('event-3').getAttribute('data-seen')).toBe('true');
    expect(screen.getByRole('button', { name: 'Clear seen' })).toHaveProperty('disabled', true);
  });

  it('connects Codex: shows the files, writes them, restores the backup', async () => {
    const { backend } = await desktopApp();
    const opener = screen.getByRole('button', { name: 'Connect Codex' });
    opener.focus();
    fireEvent.click(opener);
    const dialog = screen.getByRole('dialog', { name: 'Connect Codex' });
    await within(dialog).findByText('/home/u/.codex/config.toml');
    expect(within(dialog).getByText('/home/u/.codex/auth.json')).toBeTruthy();
    expect(within(dialog).getByText('/home/u/.codex')).toBeTruthy();
    expect(within(dialog).getByTestId('codex-configured').textContent).toContain('Not configured');
    expect(within(dialog).getByLabelText('config.toml block').textContent).toBe(backend.codex.config_block);
    expect(within(dialog).getByLabelText('auth.json content').textContent).toBe(backend.codex.auth_json);
    expect(within(dialog).getByRole('button', { name: 'Copy config.toml block' })).toBeTruthy();
    expect(within(dialog).getByRole('button', { name: 'Copy auth.json content' })).toBeTruthy();
    expect(within(dialog).getByRole('button', { name: 'Restore backup' })).toHaveProperty('disabled', true);

    fireEvent.click(within(dialog).getByRole('button', { name: 'Write Codex config' }));
    await waitFor(() =>
      expect(within(dialog).getByTestId('codex-configured').textContent).toContain('Configured for this gateway'),
    );
    const restore = within(dialog).getByRole('button', { name: 'Restore backup' });
    expect(restore).toHaveProperty('disabled', false);
    fireEvent.click(restore);
    const confirm = screen.getByRole('alertdialog', { name: 'Restore the Codex backup?' });
    // Escape closes only the top dialog.
    fireEvent.keyDown(confirm, { key: 'Escape' });
    expect(screen.queryByRole('alertdialog')).toBeNull();
    expect(screen.getByRole('dialog', { name: 'Connect Codex' })).toBeTruthy();
    fireEvent.click(restore);
    fireEvent.click(within(screen.getByRole('alertdialog')).getByRole('button', { name: 'Restore backup' }));
    await waitFor(() => expect(within(dialog).getByTestId('codex-configured').textContent).toContain('Not configured'));
    expect(backend.methods()).toContain('restore_codex_backup');

    fireEvent.keyDown(dialog, { key: 'Escape' });
    expect(screen.queryByRole('dialog')).toBeNull();
    expect(document.activeElement).toBe(opener);
  });

  it('copies the gateway address', async () => {
    await desktopApp();
    const writeText = vi.fn(async () => {});
    Object.defineProperty(navigator, 'clipboard', { value: { writeText }, configurable: true });
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Copy gateway address' }));
    });
    expect(writeText).toHaveBeenCalledWith('http://127.0.0.1:4000/v1');
  });

  it('has a Usage tab', async () => {
    await desktopApp();
    const usage = screen.getByRole('link', { name: 'Usage' });
    expect(screen.getByRole('link', { name: 'Dashboard' }).getAttribute('aria-current')).toBe('page');
    act(() => {
      window.location.hash = usage.getAttribute('href')!;
      window.dispatchEvent(new HashChangeEvent('hashchange'));
    });
    expect(screen.getByRole('heading', { level: 1, name: 'Usage' })).toBeTruthy();
    expect(usage.getAttribute('aria-current')).toBe('page');
    expect(await screen.findByTestId('usage-overall-requests')).toBeTruthy();
  });
});

describe('dialogs', () => {
  it('trap Tab inside and label themselves by their title', async () => {
    await desktopApp();
    fireEvent.click(screen.getByRole('button', { name: 'Set key for p4' }));
    const dialog = screen.getByRole('dialog', { name: 'API key for p4' });
    expect(dialog.getAttribute('aria-modal')).toBe('true');
    const input = within(dialog).getByLabelText('New API key');
    expect(document.activeElement).toBe(input);
    const buttons = within(dialog).getAllByRole('button');
    const last = buttons[buttons.length - 1];
    last.focus();
    fireEvent.keyDown(last, { key: 'Tab' });
    expect(document.activeElement).toBe(within(dialog).getByRole('button', { name: 'Close' }));
    fireEvent.keyDown(document.activeElement!, { key: 'Tab', shiftKey: true });
    expect(document.activeElement).toBe(last);
  });
});

describe('dialogs when focus has fallen out of them', () => {
  it('Escape still closes only the innermost dialog and Tab brings focus back inside', async () => {
    await desktopApp();
    fireEvent.click(screen.getByRole('button', { name: 'Connect Codex' }));
    const dialog = screen.getByRole('dialog', { name: 'Connect Codex' });
    const write = await within(dialog).findByRole('button', { name: 'Write Codex config' });
    await waitFor(() => expect(write).toHaveProperty('disabled', false));
    fireEvent.click(write);
    await waitFor(() =>
      expect(within(dialog).getByTestId('codex-configured').textContent).toContain('Configured for this gateway'),
    );
    // The button is disabled while it works, and Chromium then drops focus to <body>.
    write.focus();
    write.blur();
    expect(document.activeElement).toBe(document.body);

    fireEvent.keyDown(document.body, { key: 'Tab' });
    expect(dialog.contains(document.activeElement)).toBe(true);

    fireEvent.click(within(dialog).getByRole('button', { name: 'Restore backup' }));
    const confirm = screen.getByRole('alertdialog', { name: 'Restore the Codex backup?' });
    (document.activeElement as HTMLElement | null)?.blur();
    fireEvent.keyDown(document.body, { key: 'Escape' });
    expect(confirm.isConnected).toBe(false);
    expect(screen.getByRole('dialog', { name: 'Connect Codex' })).toBe(dialog);

    (document.activeElement as HTMLElement | null)?.blur();
    fireEvent.keyDown(document.body, { key: 'Escape' });
    expect(screen.queryByRole('dialog')).toBeNull();
  });
});
