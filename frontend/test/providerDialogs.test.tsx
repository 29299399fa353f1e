// Audit round 3 on the provider dialogs: refusals shown in the dialog (never a toast over it), Add
// provider when the key is refused, a dialog whose provider went away, names and focus.

import { act, fireEvent, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { FakeBackend, FakeError } from './fakeBackend';
import { desktopApp } from './desktopApp';


function openAdd() {
  fireEvent.click(screen.getByRole('button', { name: 'Add provider' }));
  return screen.getByRole('dialog', { name: 'Add provider' });
}

function fillAdd(dialog: HTMLElement, id: string, url: string, key = '') {
  fireEvent.change(within(dialog).getByLabelText('Provider id'), { target: { value: id } });
  fireEvent.change(within(dialog).getByLabelText('Display name'), { target: { value: 'New Relay' } });
  fireEvent.change(within(dialog).getByLabelText('Base URL'), { target: { value: url } });
  if (key) fireEvent.change(within(dialog).getByLabelText('API key (optional)'), { target: { value: key } });
  fireEvent.click(within(dialog).getByRole('button', { name: 'Add provider' }));
}

describe('a refusal while a dialog is open', () => {
  it('is shown at the field it names, with no toast over the form', async () => {
    const { backend } = await desktopApp();
    backend.failNext.upsert_provider = new FakeError("base_url 'https://a..b/v1' has an empty label");
    const dialog = openAdd();
    fillAdd(dialog, 'p9', 'https://a..b/v1');
    const url = within(dialog).getByLabelText('Base URL');
    await waitFor(() => expect(url.getAttribute('aria-invalid')).toBe('true'));
    expect(within(dialog).getByRole('alert').textContent).toBe("base_url 'https://a..b/v1' has an empty label");
    expect(screen.queryByTestId('toast-error')).toBeNull();
    expect(screen.getByRole('dialog', { name: 'Add provider' })).toBeTruthy();
  });

  it('names no field: shown as the dialog’s error line', async () => {
    const { backend } = await desktopApp();
    backend.failNext.upsert_provider = new FakeError('could not write config.toml: disk full');
    const dialog = openAdd();
    fillAdd(dialog, 'p9', 'https://relay9.example.com/v1');
    expect((await within(dialog).findByTestId('dialog-error')).textContent).toBe('could not write config.toml: disk full');
    expect(screen.queryByTestId('toast-error')).toBeNull();
  });

  it('of a key, in the key dialog, at the key', async () => {
    const { backend } = await desktopApp();
    backend.failNext.set_provider_key = new FakeError('key must be printable characters only (check what was pasted)');
    fireEvent.click(screen.getByRole('button', { name: 'Change key for Relay One' }));
    const dialog = screen.getByRole('dialog', { name: 'API key for Relay One' });
    fireEvent.change(within(dialog).getByLabelText('New API key'), { target: { value: 'sk-fine-by-the-form' } });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Save key' }));
    await waitFor(() => expect(within(dialog).getByLabelText('New API key').getAttribute('aria-invalid')).toBe('true'));
    expect(screen.queryByTestId('toast-error')).toBeNull();
  });
});

describe('Add provider with a key the server refuses', () => {
  it('switches to the new provider’s key dialog, saying it was added but the key was not saved and why', async () => {
    const { backend } = await desktopApp();
    backend.failNext.set_provider_key = new FakeError('key must be ASCII');
    fillAdd(openAdd(), 'p9', 'https://relay9.example.com/v1', 'sk-looks-fine');
    const keyDialog = await screen.findByRole('dialog', { name: 'API key for New Relay' });
    expect(screen.queryByRole('dialog', { name: 'Add provider' })).toBeNull();
    expect(within(keyDialog).getByRole('alert').textContent).toBe('New Relay was added, but its key was not saved: key must be ASCII');
    const input = within(keyDialog).getByLabelText('New API key') as HTMLInputElement;
    expect(input.value).toBe('sk-looks-fine'); // to fix, not to type again
    fireEvent.change(input, { target: { value: 'sk-fixed-key-1234' } });
    fireEvent.click(within(keyDialog).getByRole('button', { name: 'Save key' }));
    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());
    expect(backend.state.providers.p9.has_key).toBe(true);
    expect(backend.calls.filter((c) => c.method === 'upsert_provider')).toHaveLength(1); // never "already exists"
  });

  it('refuses a non-ASCII or invisible key before sending anything', async () => {
    const { backend } = await desktopApp();
    const dialog = openAdd();
    fillAdd(dialog, 'p9', 'https://relay9.example.com/v1', 'sk-abc\u200bdef');
    expect(within(dialog).getByRole('alert').textContent).toMatch(/invisible or control character \(U\+200B\)/);
    expect(backend.calls.some((c) => c.method === 'upsert_provider')).toBe(false);
  });
});

describe('a dialog whose provider went away', () => {
  it('closes, says so, and never reopens when the id comes back', async () => {
    const { backend } = await desktopApp(new FakeBackend(), 40);
    fireEvent.click(screen.getByRole('button', { name: 'Edit Relay Two' }));
    expect(screen.getByRole('dialog', { name: 'Edit Relay Two' })).toBeTruthy();
    act(() => void backend.handle('rename_provider', { provider: 'p2', new_id: 'p2-moved' }));
    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());
    await waitFor(() =>
      expect(document.querySelector('.toasts')?.textContent).toContain('Relay Two was renamed or deleted meanwhile'),
    );
    act(() => void backend.handle('rename_provider', { provider: 'p2-moved', new_id: 'p2' }));
    await screen.findByTestId('provider-row-p2');
    await new Promise((r) => setTimeout(r, 200)); // several polls
    expect(screen.queryByRole('dialog')).toBeNull();
  });
});

describe('names and wording', () => {
  it('titles the Edit dialog with the same disambiguated name as its row', async () => {
    const backend = new FakeBackend();
    backend.state.providers.p2 = { ...backend.state.providers.p2, display_name: 'Relay One' };
    await desktopApp(backend);
    fireEvent.click(screen.getByRole('button', { name: 'Edit Relay One (p2)' }));
    expect(screen.getByRole('dialog', { name: 'Edit Relay One (p2)' })).toBeTruthy();
  });

  it('says what a delete removes and what stays, and gives focus to the providers heading after it', async () => {
    await desktopApp();
    const opener = screen.getByRole('button', { name: 'Delete Relay Three' });
    opener.focus();
    fireEvent.click(opener);
    const dialog = screen.getByRole('alertdialog', { name: 'Delete Relay Three?' });
    expect(dialog.textContent).toContain('API key, usage token, health, metrics and quota reading');
    expect(dialog.textContent).toContain('Its rows in the request log and its events stay');
    expect(dialog.textContent).not.toContain('history');
    fireEvent.click(within(dialog).getByRole('button', { name: 'Delete provider' }));
    await waitFor(() => expect(screen.queryByTestId('provider-row-p3')).toBeNull());
    await waitFor(() => expect(document.activeElement?.id).toBe('providers-title'));
  });

  it('cuts only the path of a long base URL, the whole of it in the title', async () => {
    const backend = new FakeBackend();
    const long = `https://relay.example.com/${'x'.repeat(2000)}`;
    backend.state.providers.p1 = { ...backend.state.providers.p1, base_url: long };
    await desktopApp(backend);
    const cell = screen.getByTestId('base-url-p1');
    expect(cell.getAttribute('title')).toBe(long);
    expect(cell.textContent).toBe(long);
    expect(within(cell).getByTestId('base-url-path-p1').className).toContain('prow__path');
    expect(within(cell).getByTestId('base-url-path-p1').textContent).toBe(`/${'x'.repeat(2000)}`);
  });

  it('never clamps the scheme, host and port of a base URL, however long the host', async () => {
    const backend = new FakeBackend();
    const url = 'https://relay-gateway-eu-west-1.internal-proxy.some-long-company-domain.example.com:8443/openai/deployments/v1';
    backend.state.providers.p1 = { ...backend.state.providers.p1, base_url: url };
    await desktopApp(backend);
    const cell = screen.getByTestId('base-url-p1');
    const origin = within(cell).getByTestId('base-url-origin-p1');
    expect(origin.textContent).toBe('https://relay-gateway-eu-west-1.internal-proxy.some-long-company-domain.example.com:8443');
    expect(within(cell).getByTestId('base-url-path-p1').textContent).toBe('/openai/deployments/v1');
    expect(cell.textContent).toBe(url);
    // Nothing between the row and the host cuts it: no clamp on the origin or any element around it.
    for (let el: HTMLElement | null = origin; el && el.tagName !== 'TD'; el = el.parentElement) {
      expect(el.className).not.toMatch(/clamp|ellipsis|prow__path/);
    }
    expect(origin.contains(within(cell).getByTestId('base-url-path-p1'))).toBe(false);
  });
});

describe('a hand edit of config.toml while a dialog is open', () => {
  const upserts = (b: FakeBackend) => b.calls.filter((c) => c.method === 'upsert_provider').map((c) => c.args);

  it('Edit provider: survives a save that changed only a mapping', async () => {
    const { backend } = await desktopApp(new FakeBackend(), 40);
    fireEvent.click(screen.getByRole('button', { name: 'Edit Relay Two' }));
    const dialog = screen.getByRole('dialog', { name: 'Edit Relay Two' });
    // The app reloads config.toml: the provider list shows the hand edit.
    act(() => {
      const p2 = backend.state.providers.p2;
      backend.state.providers.p2 = { ...p2, display_name: 'Relay Deux', base_url: 'https://deux.example.com/v1' };
    });
    await waitFor(() => expect(screen.getByTestId('base-url-p2').textContent).toBe('https://deux.example.com/v1'));
    fireEvent.change(within(dialog).getByLabelText('Provider model 1'), { target: { value: 'openai/gpt-5.6' } });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Save changes' }));
    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());
    expect(upserts(backend)).toEqual([{ provider: 'p2', model_map: { 'gpt-5.5': 'openai/gpt-5.6' } }]);
    expect(backend.state.providers.p2).toMatchObject({ display_name: 'Relay Deux', base_url: 'https://deux.example.com/v1' });
  });

  it('Edit provider: a field the user changed is still sent', async () => {
    const { backend } = await desktopApp(new FakeBackend(), 40);
    fireEvent.click(screen.getByRole('button', { name: 'Edit Relay Two' }));
    const dialog = screen.getByRole('dialog', { name: 'Edit Relay Two' });
    act(() => {
      backend.state.providers.p2 = { ...backend.state.providers.p2, base_url: 'https://deux.example.com/v1' };
    });
    await waitFor(() => expect(screen.getByTestId('base-url-p2').textContent).toBe('https://deux.example.com/v1'));
    fireEvent.change(within(dialog).getByLabelText('Display name'), { target: { value: 'Relay 2' } });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Save changes' }));
    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());
    expect(upserts(backend)).toEqual([{ provider: 'p2', display_name: 'Relay 2' }]);
    expect(backend.state.providers.p2.base_url).toBe('https://deux.example.com/v1');
  });

  it('Usage settings: survives a save that changed only the adapter', async () => {
    const { backend } = await desktopApp(new FakeBackend(), 40);
    fireEvent.click(screen.getByRole('button', { name: 'Usage settings for Relay One' }));
    const dialog = screen.getByRole('dialog', { name: 'Usage settings for Relay One' });
    const before = backend.state.providers.p1;
    act(() => {
      backend.state.providers.p1 = { ...before, usage_adapter: 'budget_info', usage_base_url: 'https://panel.example.com' };
    });
    // Wait for a poll to bring the hand edit in.
    const polls = backend.calls.filter((c) => c.method === 'get_status').length;
    await waitFor(() => expect(backend.calls.filter((c) => c.method === 'get_status').length).toBeGreaterThan(polls + 1));
    fireEvent.change(within(dialog).getByLabelText('Usage adapter'), { target: { value: 'token_stats' } });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Save usage settings' }));
    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());
    expect(upserts(backend)).toEqual([{ provider: 'p1', usage_adapter: 'token_stats' }]);
    expect(backend.state.providers.p1.usage_base_url).toBe('https://panel.example.com');
  });
});
