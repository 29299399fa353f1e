// Headings, names and initial focus as a screen reader or a speech user meets them on the dashboard.

import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { App } from '../src/App';
import { createDesktopBridge } from '../src/bridge';
import { FakeBackend } from './fakeBackend';
import { desktopApp } from './desktopApp';

describe('the dashboard', () => {
  it('has a level-1 heading, as the Requests and Usage pages do', async () => {
    await desktopApp();
    const main = screen.getByRole('main', { name: 'Dashboard' });
    const h1 = within(main).getByRole('heading', { level: 1, name: 'Dashboard' });
    // Hidden like the other visually hidden helpers: the dashboard must fit one screen.
    expect(h1.className).toBe('sr-only');
    expect(screen.getAllByRole('heading', { level: 1 })).toEqual([h1]);
  });

  it('names the quota warning after what it does: it opens the usage settings', async () => {
    await desktopApp(); // Relay Three's last usage check failed
    const row = within(screen.getByTestId('provider-row-p3'));
    const warning = row.getByTestId('quota-error-p3');
    expect(warning.getAttribute('aria-label')).toBe('Usage check failed for Relay Three — open usage settings');
    fireEvent.click(warning);
    expect(screen.getByRole('dialog', { name: 'Usage settings for Relay Three' })).toBeTruthy();
  });

  it('gives a screen reader the whole last error, which the row shows on one line', async () => {
    const backend = new FakeBackend();
    const long = `HTTP 500: ${'internal upstream explosion '.repeat(8)}— the end`;
    backend.state.providers.p2 = { ...backend.state.providers.p2, status: 'unhealthy', last_error: long };
    await desktopApp(backend);
    const button = screen.getByRole('button', { name: `Last error of Relay Two: ${long}` });
    expect(button.getAttribute('title')).toBe(long);
    expect(within(button).getByText(long).className).toBe('line1');
    fireEvent.click(button); // opened: the whole text, wrapped
    expect(within(button).getByText(long).className).toBe('wrap');
    expect(button.getAttribute('aria-expanded')).toBe('true');
  });
});

describe('Connect Codex', () => {
  it('opens on "Write Codex config", not on "Restore backup" without a backup', async () => {
    const backend = new FakeBackend();
    render(<App bridge={createDesktopBridge(backend.pywebviewApi())} pollIntervalMs={60_000} />);
    await screen.findByTestId('provider-row-p1');
    // The header knows the setup already (it polls it): the dialog opens with it.
    await waitFor(() => expect(backend.methods()).toContain('get_codex_setup'));
    fireEvent.click(screen.getByRole('button', { name: /^Connect Codex/ }));
    const dialog = screen.getByRole('dialog', { name: 'Connect Codex' });
    expect(within(dialog).getByRole('button', { name: 'Restore backup' }).getAttribute('aria-disabled')).toBe('true');
    expect(document.activeElement).toBe(within(dialog).getByRole('button', { name: 'Write Codex config' }));
  });
});
