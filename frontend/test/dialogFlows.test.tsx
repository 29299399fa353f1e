// The provider dialogs' flows: Add provider never overwrites an id another window took, focus after
// Delete / Rename survives the status that arrives a moment later, a dialog's error line goes at
// the first edit, Connect Codex says it wrote the files inside the dialog, and wording.

import { act, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { App } from '../src/App';
import { createDesktopBridge } from '../src/bridge';
import { FakeBackend, FakeError } from './fakeBackend';
import { desktopApp } from './desktopApp';


const DISK_FULL = 'could not write config.toml: disk full';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function errorLine(dialog: HTMLElement) {
  return within(dialog).queryByTestId('dialog-error');
}

describe('Add provider', () => {
  it('is refused at the id field when another window added that id meanwhile, and changes nothing', async () => {
    const { backend } = await desktopApp();
    fireEvent.click(screen.getByRole('button', { name: 'Add provider' }));
    const dialog = screen.getByRole('dialog', { name: 'Add provider' });
    // Another window adds p9 between two status polls: this one does not know it yet.
    act(() => void backend.handle('upsert_provider', { provider: 'p9', display_name: 'Theirs', base_url: 'https://theirs.example.com/v1' }));
    fireEvent.change(within(dialog).getByLabelText('Provider id'), { target: { value: 'p9' } });
    fireEvent.change(within(dialog).getByLabelText('Display name'), { target: { value: 'Mine' } });
    fireEvent.change(within(dialog).getByLabelText('Base URL'), { target: { value: 'https://mine.example.com/v1' } });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Add provider' }));

    const id = within(dialog).getByLabelText('Provider id');
    await waitFor(() => expect(id.getAttribute('aria-invalid')).toBe('true'));
    expect(within(dialog).getByText("a provider named 'p9' already exists")).toBeTruthy();
    expect(screen.queryByTestId('toast-error')).toBeNull();
    expect(backend.state.providers.p9.display_name).toBe('Theirs');
    expect(backend.state.providers.p9.base_url).toBe('https://theirs.example.com/v1');
  });

  it('the fake backend refuses create:true for an id that exists, as the real one does', () => {
    const backend = new FakeBackend();
    expect(() => backend.handle('upsert_provider', { provider: 'p1', base_url: 'https://x.example.com/v1', create: true })).toThrow(
      "a provider named 'p1' already exists",
    );
    backend.handle('upsert_provider', { provider: 'p1', display_name: 'Still editable' });
    expect(backend.state.providers.p1.display_name).toBe('Still editable');
  });
});

describe('focus after a provider goes away', () => {
  it('Delete: ends on the providers heading, also when the new status arrives a moment later', async () => {
    const { backend } = await desktopApp();
    backend.delayMs.get_status = 80; // the real refresh takes a moment: the row is still there when the dialog closes
    const opener = screen.getByRole('button', { name: 'Delete Relay Three' });
    opener.focus();
    fireEvent.click(opener);
    const dialog = screen.getByRole('alertdialog', { name: 'Delete Relay Three?' });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Delete provider' }));
    await waitFor(() => expect(screen.queryByRole('alertdialog')).toBeNull());
    expect(screen.getByTestId('provider-row-p3')).toBeTruthy(); // not refreshed yet
    await waitFor(() => expect(screen.queryByTestId('provider-row-p3')).toBeNull());
    await sleep(20);
    expect(document.activeElement?.id).toBe('providers-title');
  });

  it('a row the next status takes away (deleted in another window) gives its focus to the heading', async () => {
    const backend = new FakeBackend();
    await desktopApp(backend, 50);
    screen.getByRole('button', { name: 'Test Relay One' }).focus();
    act(() => void backend.handle('delete_provider', { provider: 'p1' }));
    await waitFor(() => expect(screen.queryByTestId('provider-row-p1')).toBeNull());
    await waitFor(() => expect(document.activeElement?.id).toBe('providers-title'));
  });

  it('a test result the next status takes away with its provider gives its focus to the heading', async () => {
    const backend = new FakeBackend();
    await desktopApp(backend, 50);
    fireEvent.click(screen.getByRole('button', { name: 'Test Relay One' }));
    const panel = await screen.findByTestId('provider-test-p1');
    await waitFor(() => expect(within(panel).queryAllByRole('button').length).toBeGreaterThan(0));
    within(panel).getAllByRole('button')[0].focus();
    act(() => void backend.handle('delete_provider', { provider: 'p1' }));
    await waitFor(() => expect(screen.queryByTestId('provider-row-p1')).toBeNull());
    await waitFor(() => expect(document.activeElement?.id).toBe('providers-title'));
  });

  it('a control the next status takes away (the last error, once the provider recovered) gives its focus to the start of its row', async () => {
    const backend = new FakeBackend();
    await desktopApp(backend, 50);
    screen.getByRole('button', { name: /^Last error of Relay Three/ }).focus();
    const p3 = backend.state.providers.p3;
    backend.state = { ...backend.state, providers: { ...backend.state.providers, p3: { ...p3, status: 'healthy', last_error: '' } } };
    await waitFor(() => expect(screen.queryByRole('button', { name: /^Last error of Relay Three/ })).toBeNull());
    await waitFor(() => expect(document.activeElement).toBe(screen.getByRole('button', { name: 'Reorder Relay Three' })));
  });

  it('Rename: ends on the renamed provider’s row control once its row is there', async () => {
    const { backend } = await desktopApp();
    // Long enough that the heading's turn can be seen on a busy machine (effects run after the dialog
    // leaves the page), short enough for the row to come within findByTestId's wait.
    backend.delayMs.get_status = 300;
    const opener = screen.getByRole('button', { name: 'Rename Relay Two (change its id)' });
    opener.focus();
    fireEvent.click(opener);
    const dialog = screen.getByRole('dialog', { name: 'Rename Relay Two: a new provider id' });
    fireEvent.change(within(dialog).getByLabelText('New provider id'), { target: { value: 'p2-moved' } });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Rename' }));
    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());
    await waitFor(() => expect(document.activeElement?.id).toBe('providers-title'));
    expect(screen.queryByTestId('provider-row-p2-moved')).toBeNull(); // not refreshed yet
    const row = await screen.findByTestId('provider-row-p2-moved', {}, { timeout: 3000 });
    await waitFor(() => expect(document.activeElement).toBe(within(row).getByRole('button', { name: 'Rename Relay Two (change its id)' })));
    await sleep(20);
    expect(document.activeElement).toBe(within(row).getByRole('button', { name: 'Rename Relay Two (change its id)' }));
  });

  it('Rename: leaves focus alone when the user moved it before the row came', async () => {
    const { backend } = await desktopApp();
    backend.delayMs.get_status = 300; // the row comes well after focus is back from the dialog
    fireEvent.click(screen.getByRole('button', { name: 'Rename Relay Two (change its id)' }));
    const dialog = screen.getByRole('dialog', { name: 'Rename Relay Two: a new provider id' });
    fireEvent.change(within(dialog).getByLabelText('New provider id'), { target: { value: 'p2-moved' } });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Rename' }));
    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());
    // The user moves on once focus has come back from the dialog (on a busy machine that step can come
    // after the dialog is gone; a move made before it would be one the app made, not the user).
    await waitFor(() => expect(document.activeElement?.id).toBe('providers-title'));
    const elsewhere = screen.getByRole('button', { name: 'Test Relay One' });
    elsewhere.focus();
    await screen.findByTestId('provider-row-p2-moved');
    await sleep(20);
    expect(document.activeElement).toBe(elsewhere);
  });
});

describe('Model map', () => {
  it('Remove mapping keeps focus in the list: the row that took its place, the one before, then Add mapping', async () => {
    await desktopApp();
    fireEvent.click(screen.getByRole('button', { name: 'Add provider' }));
    const dialog = screen.getByRole('dialog', { name: 'Add provider' });
    const add = within(dialog).getByRole('button', { name: 'Add mapping' });
    fireEvent.click(add);
    fireEvent.click(add);
    fireEvent.click(add);
    fireEvent.change(within(dialog).getByLabelText('Requested model 3'), { target: { value: 'third' } });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Remove mapping 2' }));
    // The third row is the second now, and its button has the focus.
    expect(document.activeElement).toBe(within(dialog).getByRole('button', { name: 'Remove mapping 2' }));
    expect((within(dialog).getByLabelText('Requested model 2') as HTMLInputElement).value).toBe('third');
    fireEvent.click(within(dialog).getByRole('button', { name: 'Remove mapping 2' }));
    expect(document.activeElement).toBe(within(dialog).getByRole('button', { name: 'Remove mapping 1' }));
    fireEvent.click(within(dialog).getByRole('button', { name: 'Remove mapping 1' }));
    expect(document.activeElement).toBe(add);
  });
});

describe('the dialog’s error line goes at the first edit', () => {
  it('Rename', async () => {
    const { backend } = await desktopApp();
    backend.failNext.rename_provider = new FakeError(DISK_FULL);
    fireEvent.click(screen.getByRole('button', { name: 'Rename Relay Two (change its id)' }));
    const dialog = screen.getByRole('dialog', { name: 'Rename Relay Two: a new provider id' });
    fireEvent.change(within(dialog).getByLabelText('New provider id'), { target: { value: 'p2-new' } });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Rename' }));
    expect((await within(dialog).findByTestId('dialog-error')).textContent).toBe(DISK_FULL);
    fireEvent.change(within(dialog).getByLabelText('New provider id'), { target: { value: 'p2-newer' } });
    expect(errorLine(dialog)).toBeNull();
  });

  it('API key', async () => {
    const { backend } = await desktopApp();
    backend.failNext.set_provider_key = new FakeError('could not write secrets.json: disk full');
    fireEvent.click(screen.getByRole('button', { name: 'Change key for Relay One' }));
    const dialog = screen.getByRole('dialog', { name: 'API key for Relay One' });
    fireEvent.change(within(dialog).getByLabelText('New API key'), { target: { value: 'sk-new-key-0001' } });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Save key' }));
    await within(dialog).findByTestId('dialog-error');
    fireEvent.change(within(dialog).getByLabelText('New API key'), { target: { value: 'sk-new-key-0002' } });
    expect(errorLine(dialog)).toBeNull();
  });

  it.each([
    ['Usage adapter', 'new_api'],
    ['Usage base URL', 'https://usage.example.com'],
    ['Usage token', 'tok-2'],
  ])('Usage settings: %s', async (label, value) => {
    const { backend } = await desktopApp();
    fireEvent.click(screen.getByRole('button', { name: 'Usage settings for Relay One' }));
    const dialog = screen.getByRole('dialog', { name: 'Usage settings for Relay One' });
    await within(dialog).findByText(/None set|A usage token is set/);
    backend.failNext.upsert_provider = new FakeError(DISK_FULL);
    fireEvent.change(within(dialog).getByLabelText('Usage adapter'), { target: { value: 'token_stats' } });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Save usage settings' }));
    await within(dialog).findByTestId('dialog-error');
    fireEvent.change(within(dialog).getByLabelText(label), { target: { value } });
    expect(errorLine(dialog)).toBeNull();
  });

  it.each(['toggle', 'text'])('Settings: a %s', async (kind) => {
    const { backend } = await desktopApp();
    fireEvent.click(screen.getByRole('button', { name: 'Settings' }));
    const dialog = screen.getByRole('dialog', { name: 'Settings' });
    await within(dialog).findByLabelText('Start hidden in the tray');
    backend.failNext.update_ui = new FakeError('could not write the settings: disk full');
    fireEvent.click(within(dialog).getByLabelText('Start hidden in the tray'));
    fireEvent.click(within(dialog).getByRole('button', { name: 'Save settings' }));
    await within(dialog).findByTestId('dialog-error');
    if (kind === 'toggle') fireEvent.click(within(dialog).getByLabelText('A request fails over'));
    else fireEvent.change(within(dialog).getByLabelText('Quota warning below (%)'), { target: { value: '25' } });
    expect(errorLine(dialog)).toBeNull();
  });

  it('Add provider: the API key', async () => {
    const { backend } = await desktopApp();
    backend.failNext.upsert_provider = new FakeError(DISK_FULL);
    fireEvent.click(screen.getByRole('button', { name: 'Add provider' }));
    const dialog = screen.getByRole('dialog', { name: 'Add provider' });
    fireEvent.change(within(dialog).getByLabelText('Provider id'), { target: { value: 'p9' } });
    fireEvent.change(within(dialog).getByLabelText('Base URL'), { target: { value: 'https://nine.example.com/v1' } });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Add provider' }));
    await within(dialog).findByTestId('dialog-error');
    fireEvent.change(within(dialog).getByLabelText('API key (optional)'), { target: { value: 'sk-nine-0001' } });
    expect(errorLine(dialog)).toBeNull();
  });

  it.each(['edit a mapping', 'add a mapping', 'remove a mapping'])('Edit provider: %s', async (what) => {
    const { backend } = await desktopApp();
    backend.failNext.upsert_provider = new FakeError(DISK_FULL);
    fireEvent.click(screen.getByRole('button', { name: 'Edit Relay Two' }));
    const dialog = screen.getByRole('dialog', { name: 'Edit Relay Two' });
    fireEvent.change(within(dialog).getByLabelText('Provider model 1'), { target: { value: 'openai/gpt-5.6' } });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Save changes' }));
    await within(dialog).findByTestId('dialog-error');
    if (what === 'edit a mapping') {
      fireEvent.change(within(dialog).getByLabelText('Requested model 1'), { target: { value: 'gpt-5.6' } });
    } else if (what === 'add a mapping') {
      fireEvent.click(within(dialog).getByRole('button', { name: 'Add mapping' }));
    } else {
      fireEvent.click(within(dialog).getByRole('button', { name: 'Remove mapping 1' }));
    }
    expect(errorLine(dialog)).toBeNull();
  });
});

describe('Connect Codex', () => {
  it('says it wrote the files in a status line inside the dialog, with no toast over it', async () => {
    await desktopApp();
    fireEvent.click(screen.getByRole('button', { name: /^Connect Codex/ }));
    const dialog = screen.getByRole('dialog', { name: 'Connect Codex' });
    fireEvent.click(await within(dialog).findByRole('button', { name: 'Write Codex config' }));
    const status = await within(dialog).findByRole('status');
    expect(status.textContent).toMatch(/^Codex configured/);
    expect(document.querySelector('.toast--success')).toBeNull();
    expect(document.querySelector('.toasts')?.textContent ?? '').not.toContain('Codex');

    fireEvent.click(within(dialog).getByRole('button', { name: 'Restore backup' }));
    fireEvent.click(within(screen.getByRole('alertdialog')).getByRole('button', { name: 'Restore backup' }));
    await waitFor(() => expect(within(dialog).getByRole('status').textContent).toMatch(/^Codex backup restored/));
    expect(document.querySelector('.toast--success')).toBeNull();
  });

  it('keeps focus inside the dialog after Restore backup, the Restore button having nothing left to do', async () => {
    const { backend } = await desktopApp();
    fireEvent.click(screen.getByRole('button', { name: /^Connect Codex/ }));
    const dialog = screen.getByRole('dialog', { name: 'Connect Codex' });
    fireEvent.click(await within(dialog).findByRole('button', { name: 'Write Codex config' }));
    await within(dialog).findByRole('status');
    const restore = within(dialog).getByRole('button', { name: 'Restore backup' });
    expect(restore.getAttribute('aria-disabled')).toBeNull();
    restore.focus();
    fireEvent.click(restore);
    fireEvent.click(within(screen.getByRole('alertdialog')).getByRole('button', { name: 'Restore backup' }));
    await waitFor(() => expect(within(dialog).getByRole('status').textContent).toMatch(/^Codex backup restored/));
    await waitFor(() => expect(screen.queryByRole('alertdialog')).toBeNull());
    expect(backend.codex.has_backup).toBe(false);
    expect(restore.getAttribute('aria-disabled')).toBe('true');
    expect(document.activeElement).toBe(restore);
    fireEvent.click(restore); // nothing to restore: no confirm, nothing sent
    expect(screen.queryByRole('alertdialog')).toBeNull();
    expect(backend.methods().filter((m) => m === 'restore_codex_backup')).toHaveLength(1);
  });

  it('does not show the last write’s line when opened again', async () => {
    await desktopApp();
    const opener = screen.getByRole('button', { name: /^Connect Codex/ });
    fireEvent.click(opener);
    let dialog = screen.getByRole('dialog', { name: 'Connect Codex' });
    fireEvent.click(await within(dialog).findByRole('button', { name: 'Write Codex config' }));
    await within(dialog).findByRole('status');
    fireEvent.keyDown(dialog, { key: 'Escape' });
    fireEvent.click(opener);
    dialog = screen.getByRole('dialog', { name: 'Connect Codex' });
    await within(dialog).findByTestId('codex-state');
    expect(within(dialog).queryByRole('status')).toBeNull();
  });
});

describe('wording', () => {
  it('names the traffic charts without saying "over time" twice', async () => {
    window.location.hash = '#/usage';
    render(<App bridge={createDesktopBridge(new FakeBackend().pywebviewApi())} pollIntervalMs={60_000} />);
    const tokens = await screen.findByTestId('usage-chart-tokens');
    await waitFor(() => expect(tokens.querySelector('svg[aria-label]')).not.toBeNull());
    const labels = Array.from(document.querySelectorAll('svg[aria-label]'), (e) => e.getAttribute('aria-label'));
    expect(labels).toContain('Tokens over time, per provider');
    expect(labels).toContain('Attempts and errors over time, per provider');
    for (const label of labels) expect(label?.match(/over time/g)?.length ?? 0).toBeLessThanOrEqual(1);
    window.location.hash = '';
  });

  it.each([
    ['dup2', 'Relay One', 'Relay One (dup2)', 'Relay One (id dup2) is removed'],
    ['race1', '', 'race1', 'race1 is removed'],
    ['p9', 'Relay Nine', 'Relay Nine', 'Relay Nine (id p9) is removed'],
  ])('the Delete dialog names provider %s once', async (id, displayName, title, text) => {
    const backend = new FakeBackend();
    backend.handle('upsert_provider', { provider: id, display_name: displayName, base_url: 'https://x.example.com/v1' });
    await desktopApp(backend);
    fireEvent.click(await screen.findByRole('button', { name: `Delete ${title}` }));
    const dialog = screen.getByRole('alertdialog', { name: `Delete ${title}?` });
    const first = dialog.querySelector('.confirm-text p')?.textContent ?? '';
    expect(first.startsWith(text)).toBe(true);
    expect(first.split(id).length - 1).toBe(1);
  });
});
