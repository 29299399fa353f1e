import { StrictMode } from 'react';
import { act, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { App } from '../src/App';
import { ALL_PROVIDERS } from '../src/logic/events';
import { TOKEN_STORAGE_KEY, createDesktopBridge, createHttpBridge, sessionTokenStore } from '../src/bridge';
import { FakeBackend, FakeError, cuttableBrowserBridge } from './fakeBackend';
import { desktopApp } from './desktopApp';
import { TOKEN_CHANGED_MESSAGE } from '../src/hooks/useAuth';
import { ViewBoundary } from '../src/ui/ViewBoundary';

function browserApp(backend = new FakeBackend(), pollIntervalMs = 40) {
  const bridge = createHttpBridge({ fetch: backend.fetch, tokenStore: sessionTokenStore(window.sessionStorage) });
  render(<App bridge={bridge} pollIntervalMs={pollIntervalMs} />);
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
    expect(screen.getByText(/Enter the gateway token/).textContent).toContain("gateway_token in secrets.json in API Router's user-data folder");
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
    expect((await screen.findByRole('alert')).textContent).toBe(TOKEN_CHANGED_MESSAGE);
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
    expect((await screen.findByRole('alert')).textContent).toBe(TOKEN_CHANGED_MESSAGE);
    expect(tokenInput()).toBeTruthy();
  });

  it('says a refused token once, in the prompt, not also in a toast of a call that was on its way', async () => {
    const backend = new FakeBackend();
    const answer = backend.fetch;
    backend.fetch = async (input, init) => {
      if (String(input).endsWith('/get_gateway_token')) await new Promise((resolve) => setTimeout(resolve, 200));
      return answer(input, init);
    };
    sessionStorage.setItem(TOKEN_STORAGE_KEY, backend.token);
    browserApp(backend);
    await screen.findByTestId('gateway-url');
    backend.token = 'ao_rotated_elsewhere'; // while get_gateway_token is still on its way
    expect((await screen.findByRole('alert')).textContent).toBe(TOKEN_CHANGED_MESSAGE);
    await waitFor(() => expect(backend.methods()).toContain('401:get_gateway_token'));
    expect(screen.getAllByRole('alert')).toHaveLength(1);
    expect(screen.queryByTestId('toast-error')).toBeNull();
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

describe('the gateway stops answering', () => {
  it('says the dashboard shows the last known state and the connection is down, in words; then recovers', async () => {
    const { network, bridge } = cuttableBrowserBridge(new FakeBackend());
    render(<App bridge={bridge} pollIntervalMs={40} />);
    await screen.findByTestId('gateway-url');
    expect(screen.getByTestId('status-summary').textContent).toBe('Relay One · serving');
    network.down = true;
    await waitFor(() => expect(screen.getByTestId('connection').textContent).toBe('Gateway not answering · retrying'));
    expect(screen.getByTestId('connection').getAttribute('title')).toContain('is the app running?');
    expect(screen.getByTestId('status-summary').textContent).toBe(
      'Last known: Relay One · serving (the gateway is not answering now)',
    );
    network.down = false;
    await waitFor(() => expect(screen.getByTestId('status-summary').textContent).toBe('Relay One · serving'));
    expect(screen.getByTestId('connection').textContent).toBe('Live');
  });
});

describe('the gateway holds its calls open without answering', () => {
  it('is told as not answering once a call has waited its limit; then recovers', async () => {
    const { network, bridge } = cuttableBrowserBridge(new FakeBackend(), () => 300);
    render(<App bridge={bridge} pollIntervalMs={40} />);
    await screen.findByTestId('gateway-url');
    network.hung = true;
    await waitFor(() => expect(screen.getByTestId('connection').textContent).toBe('Gateway not answering · retrying'));
    expect(screen.getByTestId('connection').getAttribute('title')).toContain('did not answer within');
    network.hung = false;
    await waitFor(() => expect(screen.getByTestId('connection').textContent).toBe('Live'));
  });
});

describe('a page opened while the gateway answers with an error or not at all', () => {
  it('shows the dashboard saying so, not the token prompt, and goes live by itself', async () => {
    for (const breakage of ['serverError', 'down'] as const) {
      const { network, bridge } = cuttableBrowserBridge(new FakeBackend());
      if (breakage === 'serverError') network.serverError = 'internal error in API Router; see its log';
      else network.down = true;
      const { unmount } = render(<App bridge={bridge} pollIntervalMs={40} />);
      await waitFor(() => expect(screen.getByTestId('connection').textContent).not.toBe('Live'));
      expect(screen.queryByLabelText('Gateway token')).toBeNull();
      network.serverError = null;
      network.down = false;
      await waitFor(() => expect(screen.getByTestId('connection').textContent).toBe('Live'));
      expect(sessionStorage.getItem(TOKEN_STORAGE_KEY)).not.toBeNull();
      // What was read at the start is read again: the token row can show and copy the token.
      await waitFor(() => expect(screen.getByRole('button', { name: 'Copy gateway token' })).toHaveProperty('disabled', false));
      expect(screen.queryByText('Could not read the gateway token')).toBeNull();
      unmount();
    }
  });
});

describe('the gateway answers with an error', () => {
  it('is told as that error, not as a gateway that does not answer', async () => {
    const { network, bridge } = cuttableBrowserBridge(new FakeBackend());
    render(<App bridge={bridge} pollIntervalMs={40} />);
    await screen.findByTestId('gateway-url');
    network.serverError = 'internal error in API Router; see its log';
    await waitFor(() => expect(screen.getByTestId('connection').textContent).toMatch(/^Gateway error: .*internal error/));
    expect(screen.getByTestId('status-summary').textContent).toBe('Relay One · serving');
    network.serverError = null;
    await waitFor(() => expect(screen.getByTestId('connection').textContent).toBe('Live'));
  });
});

describe('dashboard', () => {
  it('shows status, providers in order, health, cooldown countdown and events', async () => {
    await desktopApp();
    expect(screen.queryByRole('button', { name: 'Forget token' })).toBeNull(); // desktop: no token prompt
    expect(screen.getByTestId('status-preferred').textContent).toBe('Relay One');
    expect(screen.getByTestId('status-lock').textContent).toBe('Automatic');
    expect(screen.getByTestId('status-active').textContent).toBe('Relay One · preferred provider');
    expect(screen.getByTestId('status-summary').textContent).toBe('Relay One · serving');
    expect(screen.getByTestId('status-requests-today').textContent).toContain('42 requests');

    const rows = screen.getAllByTestId(/^provider-row-/).map((r) => r.getAttribute('data-provider-id'));
    expect(rows).toEqual(['p1', 'p2', 'p3', 'p4']);
    const p3 = within(screen.getByTestId('provider-row-p3'));
    expect(p3.getByText('Cooldown')).toBeTruthy();
    expect(p3.getByLabelText(/Cooldown of Relay Three: 0:2\d left/)).toBeTruthy();
    expect(screen.getByTestId('provider-row-p3').querySelector('[data-col="tokens"]')?.textContent).toBe('2.5M tok');
    expect(p3.getByTestId('fails-p3').textContent).toBe('3 fails');
    expect(within(screen.getByTestId('provider-row-p4')).getByText('Disabled')).toBeTruthy();
    expect(screen.getByTestId('provider-row-p1').querySelector('[data-col="tokens"]')?.textContent).toBe('12.3k tok');
    expect(screen.getByTestId('provider-row-p1').querySelector('[data-col="requests"]')?.textContent).toBe('10 / 1');
    expect(screen.getByTestId('key-preview-p1').textContent).toBe('sk-a…9f2c');
    // Names first; the id is a small secondary label; the whole base URL is there.
    expect(screen.getByTestId('provider-name-p2').textContent).toBe('Relay Two');
    expect(within(screen.getByTestId('provider-row-p2')).getByText('p2')).toBeTruthy();
    expect(screen.getByTestId('base-url-p2').textContent).toBe('https://two.example.com/v1');
    expect(within(screen.getByTestId('event-3')).getByText('Relay Three')).toBeTruthy();

    // Last error: truncated, full text on hover (title) and on click.
    const err = p3.getByRole('button', { name: /Last error of Relay Three/ });
    expect(err.getAttribute('title')).toBe('upstream 502: bad gateway while reading the response body from the relay');
    expect(err.getAttribute('aria-expanded')).toBe('false');
    fireEvent.click(err);
    expect(err.getAttribute('aria-expanded')).toBe('true');

    expect(screen.getByTestId('unseen-count').textContent).toBe('2 unseen');
    expect(screen.getByTestId('event-3').getAttribute('data-level')).toBe('error');
    expect(within(screen.getByTestId('event-3')).getByText('Error')).toBeTruthy();
  });

  it('locks and unlocks, showing the Status the call returns at once', async () => {
    const { backend } = await desktopApp();
    const polls = () => backend.methods().filter((m) => m === 'get_status').length;
    const before = polls();
    fireEvent.change(screen.getByLabelText('Lock routing to'), { target: { value: 'p2' } });
    await waitFor(() => expect(screen.getByTestId('status-lock').textContent).toBe('Locked to Relay Two'));
    expect(polls()).toBe(before); // no poll needed: the returned Status was applied
    expect(lastCall(backend, 'set_manual_override')?.args).toEqual({ provider: 'p2' });
    expect(screen.getByTestId('status-summary').textContent).toMatch(/^Relay Two · locked/);
    expect(within(screen.getByTestId('provider-row-p2')).getByText('locked')).toBeTruthy();

    const back = screen.getByRole('button', { name: 'Back to automatic' });
    back.focus();
    fireEvent.click(back);
    await waitFor(() => expect(screen.getByTestId('status-lock').textContent).toBe('Automatic'));
    // The button is gone: the keyboard user lands on the lock it undid, not on the page body.
    expect(document.activeElement).toBe(screen.getByLabelText('Lock routing to'));
    expect(polls()).toBe(before);
    expect(lastCall(backend, 'set_manual_override')?.args).toEqual({ provider: null });
    const options = [...(screen.getByLabelText('Lock routing to') as HTMLSelectElement).options].map((o) => o.text);
    expect(options).toEqual(['Automatic (no lock)', 'Relay One', 'Relay Two', 'Relay Three', 'Relay Four (disabled)']);
  });

  it('a poll that started before a lock does not undo it on screen', async () => {
    const backend = new FakeBackend();
    const bridge = createDesktopBridge(backend.pywebviewApi());
    render(<App bridge={bridge} pollIntervalMs={60_000} />);
    await screen.findByTestId('provider-row-p1');
    // A status read that answers late, with the state from before the lock.
    const stale = backend.handle('get_status', {});
    let release: () => void = () => {};
    const api = bridge as unknown as { call: (m: string, a?: unknown) => Promise<unknown> };
    const call = api.call.bind(bridge);
    api.call = (m: string, a?: unknown) =>
      m === 'get_status' ? new Promise((r) => (release = () => r(stale))) : call(m, a);
    fireEvent.click(screen.getByRole('button', { name: 'Refresh usage for Relay One' })); // any action polls afterwards
    await waitFor(() => expect(backend.methods()).toContain('refresh_usage'));
    fireEvent.change(screen.getByLabelText('Lock routing to'), { target: { value: 'p2' } });
    await waitFor(() => expect(screen.getByTestId('status-lock').textContent).toBe('Locked to Relay Two'));
    await act(async () => release());
    expect(screen.getByTestId('status-lock').textContent).toBe('Locked to Relay Two');
  });

  it('saves the preferred provider with the other routing fields in one call, "" for first in list', async () => {
    const { backend } = await desktopApp();
    const preferred = screen.getByLabelText('Preferred provider') as HTMLSelectElement;
    expect([...preferred.options].map((o) => [o.value, o.text])).toEqual([
      ['', 'First in list (Relay One)'],
      ['p1', 'Relay One'],
      ['p2', 'Relay Two'],
      ['p3', 'Relay Three'],
      ['p4', 'Relay Four'],
    ]);
    expect(preferred.value).toBe('p1');
    expect(screen.getByTestId('preferred-note').textContent).toBe('Stays put when you reorder the providers.');

    fireEvent.change(preferred, { target: { value: '' } });
    fireEvent.click(screen.getByLabelText('Hedge slow streams'));
    fireEvent.change(screen.getByLabelText('Idle return (s)'), { target: { value: '120' } });
    expect(screen.getByLabelText('Hedge min (s)')).toHaveProperty('disabled', true);
    fireEvent.click(screen.getByRole('button', { name: 'Save routing' }));
    await waitFor(() => expect(lastCall(backend, 'update_routing')).toBeTruthy());
    expect(backend.methods().filter((m) => m === 'update_routing')).toHaveLength(1);
    expect(lastCall(backend, 'update_routing')?.args).toEqual({
      preferred_provider: '',
      hedge: false,
      session_idle_return_seconds: 120,
    });
    expect(backend.methods()).not.toContain('set_preferred_provider');
    await waitFor(() => expect(screen.getByTestId('status-preferred').textContent).toBe('First in list (Relay One)'));
    expect(screen.getByTestId('preferred-note').textContent).toBe('Follows the list: now Relay One. Reordering changes it.');

    // Reordering: "first in list" now names the new first provider; nothing else changes silently.
    fireEvent.click(screen.getByRole('button', { name: 'Move Relay Two up' }));
    await waitFor(() => expect(screen.getByTestId('status-preferred').textContent).toBe('First in list (Relay Two)'));
    expect(screen.getByTestId('preferred-note').textContent).toBe('Follows the list: now Relay Two. Reordering changes it.');
    expect(backend.state.routing.preferred_provider).toBe('');
    expect(backend.methods().filter((m) => m === 'update_routing')).toHaveLength(1);

    // An explicit choice stays put when the order changes.
    fireEvent.change(screen.getByLabelText('Preferred provider'), { target: { value: 'p3' } });
    fireEvent.click(screen.getByRole('button', { name: 'Save routing' }));
    await waitFor(() => expect(screen.getByTestId('status-preferred').textContent).toBe('Relay Three'));
    fireEvent.click(screen.getByRole('button', { name: 'Move Relay Three up' }));
    await waitFor(() => expect(backend.state.provider_order).toEqual(['p2', 'p3', 'p1', 'p4']));
    expect(screen.getByTestId('status-preferred').textContent).toBe('Relay Three');
    expect(lastCall(backend, 'update_routing')?.args).toEqual({ preferred_provider: 'p3' });
  });

  it('keeps unsaved routing edits across a visit to another page, and takes what changed meanwhile', async () => {
    const { backend } = await desktopApp(new FakeBackend(), 40);
    const go = (page: string) =>
      act(() => {
        window.location.hash = page;
        window.dispatchEvent(new HashChangeEvent('hashchange'));
      });
    fireEvent.change(screen.getByLabelText('Cooldown (s)'), { target: { value: '45' } });
    fireEvent.change(screen.getByLabelText('Preferred provider'), { target: { value: 'p3' } });
    go('#/usage');
    expect(screen.queryByLabelText('Cooldown (s)')).toBeNull();
    backend.state.routing = { ...backend.state.routing, failure_threshold: 7 }; // changed elsewhere meanwhile
    go('#/');
    await waitFor(() => expect(screen.getByLabelText('Failure threshold')).toHaveProperty('value', '7'));
    expect(screen.getByLabelText('Cooldown (s)')).toHaveProperty('value', '45');
    expect(screen.getByLabelText('Preferred provider')).toHaveProperty('value', 'p3');
    fireEvent.click(screen.getByRole('button', { name: 'Save routing' }));
    await waitFor(() => expect(lastCall(backend, 'update_routing')).toBeTruthy());
    expect(lastCall(backend, 'update_routing')?.args).toEqual({ preferred_provider: 'p3', cooldown_seconds: 45 });
  });

  it('checks the hedge range before saving', async () => {
    const { backend } = await desktopApp();
    fireEvent.change(screen.getByLabelText('Hedge min (s)'), { target: { value: '8' } });
    fireEvent.change(screen.getByLabelText('Hedge max (s)'), { target: { value: '5' } });
    expect(screen.getByText('Must be at least the hedge min (8 s)')).toBeTruthy();
    // Nothing valid to save: marked so, yet focusable; a click sends nothing.
    const save = screen.getByRole('button', { name: 'Save routing' });
    expect(save.getAttribute('aria-disabled')).toBe('true');
    expect(save).toHaveProperty('disabled', false);
    fireEvent.click(save);
    expect(lastCall(backend, 'update_routing')).toBeUndefined();
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
      create: true,
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
      create: true,
      display_name: 'n'.repeat(200),
      base_url: 'https://Six.Example.com/v1',
    });
  });

  it('edits, renames, sets and clears a key, disables and deletes', async () => {
    const { backend } = await desktopApp();

    fireEvent.click(screen.getByRole('button', { name: 'Edit Relay Two' }));
    let dialog = screen.getByRole('dialog', { name: 'Edit Relay Two' });
    fireEvent.change(within(dialog).getByLabelText('Display name'), { target: { value: 'Second' } });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Save changes' }));
    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());
    expect(lastCall(backend, 'upsert_provider')?.args).toEqual({ provider: 'p2', display_name: 'Second' });

    // The display name shows everywhere at once; the id is edited in its own dialog.
    await waitFor(() => expect(screen.getByTestId('provider-name-p2').textContent).toBe('Second'));
    fireEvent.click(screen.getByRole('button', { name: 'Rename Second (change its id)' }));
    dialog = screen.getByRole('dialog', { name: 'Rename Second: a new provider id' });
    fireEvent.change(within(dialog).getByLabelText('New provider id'), { target: { value: 'bad id' } });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Rename' }));
    expect(within(dialog).getByRole('alert').textContent).toMatch(/letters, digits/);
    fireEvent.change(within(dialog).getByLabelText('New provider id'), { target: { value: 'second' } });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Rename' }));
    await screen.findByTestId('provider-row-second');
    expect(lastCall(backend, 'rename_provider')?.args).toEqual({ provider: 'p2', new_id: 'second' });

    fireEvent.click(screen.getByRole('button', { name: 'Set key for Relay Four' }));
    dialog = screen.getByRole('dialog', { name: 'API key for Relay Four' });
    const keyInput = within(dialog).getByLabelText('New API key');
    expect(keyInput.getAttribute('type')).toBe('password');
    fireEvent.click(within(dialog).getByRole('button', { name: 'Save key' }));
    expect(within(dialog).getByRole('alert').textContent).toBe('Enter the API key');
    fireEvent.change(keyInput, { target: { value: 'sk-four-key-9999' } });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Save key' }));
    await waitFor(() => expect(screen.getByTestId('key-preview-p4').textContent).toBe('sk-f…9999'));

    fireEvent.click(screen.getByRole('button', { name: 'Change key for Relay Four' }));
    dialog = screen.getByRole('dialog', { name: 'API key for Relay Four' });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Clear key' }));
    await waitFor(() => expect(screen.queryByTestId('key-preview-p4')).toBeNull());
    expect(lastCall(backend, 'clear_provider_key')?.args).toEqual({ provider: 'p4' });

    fireEvent.click(screen.getByRole('button', { name: 'Enable Relay Four' }));
    await waitFor(() => expect(screen.getByRole('button', { name: 'Disable Relay Four' })).toBeTruthy());
    expect(lastCall(backend, 'set_provider_disabled')?.args).toEqual({ provider: 'p4', disabled: false });

    fireEvent.click(screen.getByRole('button', { name: 'Delete Relay One' }));
    dialog = screen.getByRole('alertdialog', { name: 'Delete Relay One?' });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Cancel' }));
    expect(lastCall(backend, 'delete_provider')).toBeUndefined();
    fireEvent.click(screen.getByRole('button', { name: 'Delete Relay One' }));
    dialog = screen.getByRole('alertdialog', { name: 'Delete Relay One?' });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Delete provider' }));
    await waitFor(() => expect(screen.queryByTestId('provider-row-p1')).toBeNull());
  });

  it('reorders by keyboard, by buttons and by drag and drop', async () => {
    const { backend } = await desktopApp();
    const order = () => screen.getAllByTestId(/^provider-row-/).map((r) => r.getAttribute('data-provider-id'));

    const handle = screen.getByRole('button', { name: 'Reorder Relay One' });
    handle.focus();
    fireEvent.keyDown(handle, { key: 'ArrowDown' });
    expect(order()).toEqual(['p2', 'p1', 'p3', 'p4']); // at once (optimistic)
    await waitFor(() => expect(lastCall(backend, 'set_provider_order')?.args).toEqual({ order: ['p2', 'p1', 'p3', 'p4'] }));
    expect(document.activeElement).toBe(screen.getByRole('button', { name: 'Reorder Relay One' }));

    fireEvent.click(screen.getByRole('button', { name: 'Move Relay Four up' }));
    await waitFor(() => expect(backend.state.provider_order).toEqual(['p2', 'p1', 'p4', 'p3']));
    expect(screen.getByRole('button', { name: 'Move Relay Two up' })).toHaveProperty('disabled', true);

    const data = new Map<string, string>();
    const dataTransfer = {
      setData: (k: string, v: string) => data.set(k, v),
      getData: (k: string) => data.get(k) ?? '',
      effectAllowed: '',
      dropEffect: '',
    };
    fireEvent.dragStart(screen.getByRole('button', { name: 'Reorder Relay Three' }), { dataTransfer });
    fireEvent.dragOver(screen.getByTestId('provider-row-p2'), { dataTransfer }); // jsdom: no geometry → lower half
    expect(screen.getByTestId('provider-row-p2').className).toContain('prow--drop-after');
    fireEvent.drop(screen.getByTestId('provider-row-p2'), { dataTransfer });
    await waitFor(() => expect(backend.state.provider_order).toEqual(['p2', 'p3', 'p1', 'p4']));
    await waitFor(() => expect(order()).toEqual(['p2', 'p3', 'p1', 'p4']));
    expect(screen.getByTestId('provider-row-p2').className).not.toContain('prow--drop');
  });

  it('probes a provider and shows the result inline', async () => {
    await desktopApp();
    fireEvent.click(screen.getByRole('button', { name: 'Probe Relay One' }));
    const result = await screen.findByRole('group', { name: 'Probe result for Relay One' });
    await waitFor(() => expect(within(result).getByText('OK')).toBeTruthy());
    expect(within(result).getByTestId('probe-status-p1').textContent).toBe('200');
    expect(result.textContent).toContain('latency 123 ms');
    expect(result.textContent).toContain('models 2 (gpt-5, gpt-5-mini)');
    // A long name is cut with "…" in the strip (styles.test checks the rule): the whole title is its tooltip.
    expect(within(result).getByText('Probe Relay One').getAttribute('title')).toBe('Probe Relay One');
    expect(result.closest('tr')?.getAttribute('data-testid')).toBe('provider-detail-p1');
    expect(within(result).queryByTestId('probe-still-out-p1')).toBeNull();
    fireEvent.click(within(result).getByRole('button', { name: 'Close probe result for Relay One' }));
    expect(screen.queryByRole('group', { name: 'Probe result for Relay One' })).toBeNull();
  });

  it('says a probe does not bring back a provider that stopped answering', async () => {
    const backend = new FakeBackend();
    backend.state.providers.p1 = { ...backend.state.providers.p1, status: 'unresponsive' };
    await desktopApp(backend);
    fireEvent.click(screen.getByRole('button', { name: 'Probe Relay One' }));
    const result = await screen.findByRole('group', { name: 'Probe result for Relay One' });
    await waitFor(() => expect(within(result).getByText('OK')).toBeTruthy());
    expect(within(result).getByTestId('probe-still-out-p1').textContent).toContain('Still out of rotation');
  });

  it('shows the backend message in a toast when an action fails', async () => {
    const { backend } = await desktopApp();
    backend.failNext.set_provider_disabled = new FakeError('provider p1 is locked; unlock first');
    fireEvent.click(screen.getByRole('button', { name: 'Disable Relay One' }));
    const toast = await screen.findByTestId('toast-error');
    expect(toast.textContent).toContain('Could not disable Relay One');
    expect(toast.textContent).toContain('provider p1 is locked; unlock first');
    fireEvent.click(within(toast).getByRole('button', { name: 'Dismiss: Could not disable Relay One' }));
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
    // "All" (not 'all', which a provider may have as its id).
    fireEvent.change(screen.getByLabelText('Provider'), { target: { value: ALL_PROVIDERS } });
    expect((screen.getByLabelText('Provider') as HTMLSelectElement).selectedOptions[0].text).toBe('All');
    fireEvent.click(screen.getByLabelText('Hide seen'));
    expect(ids()).toEqual(['event-3', 'event-2']);
    fireEvent.click(screen.getByLabelText('Hide seen'));

    fireEvent.click(screen.getByRole('button', { name: 'Clear seen (mark all as seen)' }));
    await waitFor(() => expect(screen.getByTestId('unseen-count').textContent).toBe('0 unseen'));
    expect(lastCall(backend, 'mark_events_seen')).toBeTruthy();
    expect(screen.getByTestId('event-3').getAttribute('data-seen')).toBe('true');
    // Nothing left to clear: marked so, yet focusable (a disabled button would drop the focus it has).
    const cleared = screen.getByRole('button', { name: 'Clear seen (mark all as seen)' });
    expect(cleared.getAttribute('aria-disabled')).toBe('true');
    expect(cleared).toHaveProperty('disabled', false);
  });

  it('connects Codex: shows the files, writes them, restores the backup', async () => {
    const { backend } = await desktopApp();
    const opener = screen.getByRole('button', { name: /^Connect Codex/ });
    opener.focus();
    fireEvent.click(opener);
    const dialog = screen.getByRole('dialog', { name: 'Connect Codex' });
    await within(dialog).findByText('/home/u/.codex/config.toml');
    expect(within(dialog).getByText('/home/u/.codex/auth.json')).toBeTruthy();
    expect(within(dialog).getByText('/home/u/.codex')).toBeTruthy();
    expect(within(dialog).getByTestId('codex-state').textContent).toContain('Not connected');
    expect(within(dialog).getByLabelText('config.toml block').textContent).toBe(backend.codex.config_block);
    // The token is masked on screen as everywhere else; the copy button copies the real file.
    expect(within(dialog).getByLabelText('auth.json content').textContent).toBe(
      '{\n  "OPENAI_API_KEY": "ao_••••••••1234"\n}\n',
    );
    // Shown whole on request (as the dashboard's token), exactly what the copy button copies.
    fireEvent.click(within(dialog).getByRole('button', { name: 'Show the token in auth.json content' }));
    expect(within(dialog).getByLabelText('auth.json content').textContent).toBe(backend.codex.auth_json);
    fireEvent.click(within(dialog).getByRole('button', { name: 'Hide the token in auth.json content' }));
    expect(within(dialog).getByLabelText('auth.json content').textContent).toContain('••••');
    expect(within(dialog).getByRole('button', { name: 'Copy config.toml block' })).toBeTruthy();
    expect(within(dialog).getByRole('button', { name: 'Copy auth.json content' })).toBeTruthy();
    expect(within(dialog).getByRole('button', { name: 'Restore backup' }).getAttribute('aria-disabled')).toBe('true');

    fireEvent.click(within(dialog).getByRole('button', { name: 'Write Codex config' }));
    await waitFor(() =>
      expect(within(dialog).getByTestId('codex-state').textContent).toContain('Connected'),
    );
    const restore = within(dialog).getByRole('button', { name: 'Restore backup' });
    expect(restore.getAttribute('aria-disabled')).toBeNull();
    fireEvent.click(restore);
    const confirm = screen.getByRole('alertdialog', { name: 'Restore the Codex backup?' });
    // Escape closes only the top dialog.
    fireEvent.keyDown(confirm, { key: 'Escape' });
    expect(screen.queryByRole('alertdialog')).toBeNull();
    expect(screen.getByRole('dialog', { name: 'Connect Codex' })).toBeTruthy();
    fireEvent.click(restore);
    fireEvent.click(within(screen.getByRole('alertdialog')).getByRole('button', { name: 'Restore backup' }));
    await waitFor(() => expect(within(dialog).getByTestId('codex-state').textContent).toContain('Not connected'));
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
    fireEvent.click(screen.getByRole('button', { name: 'Set key for Relay Four' }));
    const dialog = screen.getByRole('dialog', { name: 'API key for Relay Four' });
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
    fireEvent.click(screen.getByRole('button', { name: /^Connect Codex/ }));
    const dialog = screen.getByRole('dialog', { name: 'Connect Codex' });
    const write = await within(dialog).findByRole('button', { name: 'Write Codex config' });
    await waitFor(() => expect(write).toHaveProperty('disabled', false));
    fireEvent.click(write);
    await waitFor(() =>
      expect(within(dialog).getByTestId('codex-state').textContent).toContain('Connected'),
    );
    // Focus can still fall to <body> (the focused element leaves the page, a click outside).
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

describe('a view that cannot render an answer', () => {
  it('says so in place of a blank window, and shows the page again with the next good answer', async () => {
    const backend = new FakeBackend();
    const answer = backend.handle.bind(backend);
    let odd = true; // an answer of a shape this UI does not know (another program on the port, another version)
    backend.handle = (method, args) => (odd && method === 'get_status' ? { ...(answer(method, args) as object), providers: null } : answer(method, args));
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {}); // React reports the caught error
    try {
      render(<App bridge={createDesktopBridge(backend.pywebviewApi())} pollIntervalMs={40} />);
      expect((await screen.findByTestId('view-failed')).textContent).toMatch(/^This page could not be shown: /);
      odd = false;
      expect((await screen.findByTestId('gateway-url', {}, { timeout: 4_000 })).textContent).toBe('http://127.0.0.1:4000/v1');
      expect(screen.queryByTestId('view-failed')).toBeNull();
    } finally {
      errors.mockRestore();
    }
  });
});

describe('ViewBoundary', () => {
  it('starts over a view that failed on its very first render, under StrictMode too', async () => {
    let broken = true;
    function View({ attempt }: { attempt: number }) {
      if (broken) throw new Error('an answer of an unknown shape');
      return <p data-testid="view">shown on attempt {attempt}</p>;
    }
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      render(
        <StrictMode>
          {/* (as main.tsx mounts the app: a development build mounts each component twice) */}
          <ViewBoundary retryMs={50}>{(attempt) => <View attempt={attempt} />}</ViewBoundary>
        </StrictMode>,
      );
      expect(screen.getByTestId('view-failed').textContent).toMatch(/^This page could not be shown: an answer of an unknown shape\./);
      await new Promise((resolve) => setTimeout(resolve, 120)); // tried again meanwhile, still failing
      broken = false;
      expect((await screen.findByTestId('view')).textContent).toMatch(/^shown on attempt \d+$/);
    } finally {
      errors.mockRestore();
    }
  });
});
