// A choice that names a provider follows it when it is renamed (the status's `renamed` map), and says
// so when the provider was deleted: the Events filter and the Routing card's unsaved preferred provider.

import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { FakeBackend } from './fakeBackend';
import { desktopApp } from './desktopApp';

const POLL_MS = 40;
const lastCall = (b: FakeBackend, method: string) => [...b.calls].reverse().find((c) => c.method === method);
const eventsCard = () => within(screen.getByRole('region', { name: 'Events' }));
const eventsProvider = () => eventsCard().getByLabelText('Provider') as HTMLSelectElement;
const shownEventIds = () => eventsCard().queryAllByTestId(/^event-\d+$/).map((e) => e.dataset.testid);

describe('the Events provider filter', () => {
  it('follows a provider renamed meanwhile: its events, its name in the drop-down', async () => {
    const { backend, bridge } = await desktopApp(new FakeBackend(), POLL_MS);
    fireEvent.change(eventsProvider(), { target: { value: 'p3' } });
    expect(shownEventIds()).toEqual(['event-3', 'event-2']);

    await bridge.call('rename_provider', { provider: 'p3', new_id: 'p3b' });
    await waitFor(() => expect(screen.getByTestId('provider-row-p3b')).toBeTruthy());
    expect(backend.state.renamed).toEqual({ p3: 'p3b' });
    expect(eventsProvider().value).toBe('p3b');
    expect(eventsProvider().selectedOptions[0].textContent).toBe('Relay Three');
    expect(shownEventIds()).toEqual(['event-3', 'event-2']);
    expect(screen.queryByTestId('events-provider-gone')).toBeNull();
  });

  it('keeps a deleted provider, says it is not configured, and still shows its events', async () => {
    const { bridge } = await desktopApp(new FakeBackend(), POLL_MS);
    fireEvent.change(eventsProvider(), { target: { value: 'p3' } });
    await bridge.call('delete_provider', { provider: 'p3' });
    await waitFor(() => expect(screen.queryByTestId('provider-row-p3')).toBeNull());
    expect(eventsProvider().value).toBe('p3');
    expect(eventsProvider().selectedOptions[0].textContent).toBe('p3 (not configured)');
    expect(shownEventIds()).toEqual(['event-3', 'event-2']);
    expect(screen.getByTestId('events-provider-gone').textContent).toMatch(/No provider has the id p3 now/);
  });

  it('says a deleted provider is not configured when it was the last one', async () => {
    const { backend, bridge } = await desktopApp(new FakeBackend(), POLL_MS);
    fireEvent.change(eventsProvider(), { target: { value: 'p3' } });
    for (const provider of [...backend.state.provider_order]) await bridge.call('delete_provider', { provider });
    await waitFor(() => expect(screen.queryAllByTestId(/^provider-row-/)).toEqual([]));
    expect(eventsProvider().value).toBe('p3');
    expect(eventsProvider().selectedOptions[0].textContent).toBe('p3 (not configured)');
    expect(shownEventIds()).toEqual(['event-3', 'event-2']);
    expect(screen.getByTestId('events-provider-gone').textContent).toMatch(/No provider has the id p3 now/);
  });

  it('can choose a provider whose id is "all", apart from "All"', async () => {
    const backend = new FakeBackend();
    await desktopApp(backend, POLL_MS);
    await backendCall(backend, 'upsert_provider', { provider: 'all', create: true, base_url: 'https://all.example.com/v1', display_name: 'Everything Relay' });
    backend.state.recent_events = [
      { id: 7, unix_ms: backend.state.now_unix_ms, level: 'info', provider: 'all', kind: 'probe', message: 'ok', seen: false },
      ...backend.state.recent_events,
    ];
    await waitFor(() => expect(screen.getByTestId('provider-row-all')).toBeTruthy());
    await waitFor(() => expect(shownEventIds()).toContain('event-7'));
    fireEvent.change(eventsProvider(), { target: { value: 'all' } });
    expect(eventsProvider().selectedOptions[0].textContent).toBe('Everything Relay');
    expect(shownEventIds()).toEqual(['event-7']);
    const options = [...eventsProvider().options];
    expect(options.filter((o) => o.selected)).toHaveLength(1);
    expect(new Set(options.map((o) => o.value)).size).toBe(options.length);
  });
});

async function backendCall(backend: FakeBackend, method: string, args: Record<string, unknown>) {
  await (backend.pywebviewApi() as unknown as Record<string, (a: Record<string, unknown>) => Promise<unknown>>)[method](args);
}

describe('the Routing card’s unsaved preferred provider', () => {
  it('follows the provider when it is renamed before Save', async () => {
    const { backend, bridge } = await desktopApp(new FakeBackend(), POLL_MS);
    const preferred = () => screen.getByLabelText('Preferred provider') as HTMLSelectElement;
    fireEvent.change(preferred(), { target: { value: 'p2' } });
    await bridge.call('rename_provider', { provider: 'p2', new_id: 'p9' });
    await waitFor(() => expect(screen.getByTestId('provider-row-p9')).toBeTruthy());
    expect(preferred().value).toBe('p9');
    expect(preferred().selectedOptions[0].textContent).toBe('Relay Two');
    expect(screen.getByTestId('preferred-note').textContent).toBe('Stays put when you reorder the providers.');
    fireEvent.click(screen.getByRole('button', { name: 'Save routing' }));
    await waitFor(() => expect(lastCall(backend, 'update_routing')?.args).toEqual({ preferred_provider: 'p9' }));
    await waitFor(() => expect(backend.state.routing.preferred_provider).toBe('p9'));
  });

  it('refuses to save a provider deleted before Save, with the field’s error, even with other changes', async () => {
    const { backend, bridge } = await desktopApp(new FakeBackend(), POLL_MS);
    const preferred = () => screen.getByLabelText('Preferred provider') as HTMLSelectElement;
    fireEvent.change(preferred(), { target: { value: 'p2' } });
    fireEvent.change(screen.getByLabelText('Cooldown (s)'), { target: { value: '45' } });
    await bridge.call('delete_provider', { provider: 'p2' });
    await waitFor(() => expect(screen.queryByTestId('provider-row-p2')).toBeNull());
    expect(preferred().value).toBe('p2');
    const save = screen.getByRole('button', { name: 'Save routing' });
    fireEvent.click(save);
    await new Promise((r) => setTimeout(r, 4 * POLL_MS));
    expect(lastCall(backend, 'update_routing')).toBeUndefined();
    expect(backend.state.routing.preferred_provider).toBe('p1');
    expect(within(screen.getByTestId('preferred-note')).getByRole('alert').textContent).toMatch(/no longer exists/);
    expect(document.activeElement).toBe(preferred());
    expect(screen.queryByTestId('toast-success')).toBeNull();
  });
});
