// Provider ids are `^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`, so "toString", "constructor" and "valueOf"
// are valid ids. Records keyed by id (providers, metrics, quota, names…) are plain objects: a lookup
// must never find Object.prototype's members for an id the record does not have.

import { act, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { App } from '../src/App';
import { TOKEN_STORAGE_KEY, createHttpBridge, sessionTokenStore } from '../src/bridge';
import { FakeBackend, makeProvider, makeStatus } from './fakeBackend';

const SLOW = { timeout: 4_000 };
const IDS = ['toString', 'constructor', 'valueOf'] as const;
const NAMES: Record<(typeof IDS)[number], string> = {
  toString: 'Relay ToString',
  constructor: 'Relay Constructor',
  valueOf: 'Relay ValueOf',
};

/** Three providers with prototype-member ids; no metrics, quota or ledgers for any of them. */
function prototypeBackend(): FakeBackend {
  const base = makeStatus();
  const status = makeStatus({
    provider_order: [...IDS],
    providers: Object.fromEntries(IDS.map((id) => [id, makeProvider({ display_name: NAMES[id] })])),
    metrics: {},
    quota: {},
    ledgers: {},
    renamed: {},
    routing: { ...base.routing, preferred_provider: 'toString' },
    preferred_provider: 'toString',
    active_provider: 'toString',
    recent_events: [
      { id: 5, unix_ms: base.now_unix_ms - 1000, level: 'error', provider: 'constructor', kind: 'request_failed', message: 'upstream 502', seen: false },
      { id: 4, unix_ms: base.now_unix_ms - 2000, level: 'info', provider: 'valueOf', kind: 'probe', message: 'ok', seen: false },
      { id: 3, unix_ms: base.now_unix_ms - 3000, level: 'info', provider: null, kind: 'started', message: 'gateway started', seen: true },
    ],
  });
  const backend = new FakeBackend(status);
  // The request log's traffic moves to them: p1 → toString, p2 → constructor, p3 → valueOf.
  const to: Record<string, string> = { p1: 'toString', p2: 'constructor', p3: 'valueOf' };
  const moved = (id: string) => (Object.prototype.hasOwnProperty.call(to, id) ? to[id] : id);
  backend.requests = backend.requests.map((r) => ({
    ...r,
    provider: r.provider === null ? null : moved(r.provider),
    attempts: r.attempts.map((a) => ({ ...a, provider: moved(a.provider) })),
  }));
  return backend;
}

function browserApp(backend: FakeBackend, hash = '#/') {
  window.location.hash = hash;
  sessionStorage.setItem(TOKEN_STORAGE_KEY, backend.token);
  const bridge = createHttpBridge({ fetch: backend.fetch, tokenStore: sessionTokenStore(window.sessionStorage) });
  render(<App bridge={bridge} pollIntervalMs={40} />);
  return { backend, bridge };
}

const optionTexts = (select: HTMLSelectElement) => [...select.options].map((o) => o.textContent);
const eventsProvider = () => within(screen.getByRole('region', { name: 'Events' })).getByLabelText('Provider') as HTMLSelectElement;

describe('providers whose ids are Object.prototype members', () => {
  it('renders the dashboard with their display names', async () => {
    browserApp(prototypeBackend());
    await screen.findByTestId('provider-row-toString', undefined, SLOW);
    for (const id of IDS) {
      expect(screen.getByTestId(`provider-name-${id}`).textContent).toBe(NAMES[id]);
      // No traffic, quota or ledger of their own: nothing inherited shows instead.
      expect(screen.getByTestId(`quota-${id}`).textContent).toBe('—');
      expect(screen.getByTestId(`ledger-${id}`).textContent).toBe('—');
    }
    expect(screen.getByTestId('status-preferred').textContent).toContain('Relay ToString');
    expect(screen.getByTestId('status-active').textContent).toContain('Relay ToString');
    expect(document.body.textContent).not.toContain('native code');
  });

  it('offers them by name in the Events filter, and a deleted one as "constructor (not configured)"', async () => {
    const { bridge } = browserApp(prototypeBackend());
    await screen.findByTestId('provider-row-constructor', undefined, SLOW);
    expect(optionTexts(eventsProvider())).toEqual(expect.arrayContaining(Object.values(NAMES)));

    fireEvent.change(eventsProvider(), { target: { value: 'constructor' } });
    expect(eventsProvider().selectedOptions[0].textContent).toBe('Relay Constructor');
    await act(() => bridge.call('delete_provider', { provider: 'constructor' }));
    await waitFor(() => expect(screen.queryByTestId('provider-row-constructor')).toBeNull(), SLOW);
    expect(eventsProvider().value).toBe('constructor');
    expect(eventsProvider().selectedOptions[0].textContent).toBe('constructor (not configured)');
    expect(within(screen.getByRole('region', { name: 'Events' })).getByTestId('event-5')).toBeTruthy();
    expect(document.body.textContent).not.toContain('native code');
  });

  it('offers them by name in the Requests filter, and a deleted one as "constructor (not configured)"', async () => {
    const backend = prototypeBackend();
    browserApp(backend, '#/requests');
    await screen.findByRole('table', { name: 'Requests' }, SLOW);
    const select = () => screen.getByLabelText('Provider') as HTMLSelectElement;
    await waitFor(() => expect(optionTexts(select())).toEqual(['All providers', ...Object.values(NAMES)]), SLOW);

    await act(() => Promise.resolve(void backend.handle('delete_provider', { provider: 'constructor' })));
    act(() => {
      window.location.hash = '#/requests?provider=constructor';
    });
    await waitFor(() => expect(select().value).toBe('constructor'), SLOW);
    await waitFor(() => expect(select().selectedOptions[0].textContent).toBe('constructor (not configured)'), SLOW);
    expect(optionTexts(select())).toEqual(['All providers', 'Relay ToString', 'Relay ValueOf', 'constructor (not configured)']);
    expect(document.body.textContent).not.toContain('native code');
  });

  it('names them in the request rows, and a deleted one by its id', async () => {
    const backend = prototypeBackend();
    backend.handle('delete_provider', { provider: 'valueOf' });
    browserApp(backend, '#/requests');
    await screen.findByRole('table', { name: 'Requests' }, SLOW);
    await waitFor(() => expect(screen.getAllByTestId(/^request-row-/).length).toBeGreaterThan(0), SLOW);
    const table = screen.getByRole('table', { name: 'Requests' });
    expect(table.textContent).toContain('Relay ToString');
    expect(table.textContent).toContain('Relay Constructor');
    expect(table.textContent).toContain('valueOf');
    expect(document.body.textContent).not.toContain('native code');
  });

  it('shows their traffic on the Usage page under their names', async () => {
    browserApp(prototypeBackend(), '#/usage');
    await screen.findByTestId('usage-provider-row-toString', undefined, SLOW);
    for (const id of IDS) expect(screen.getByTestId(`usage-provider-row-${id}`).textContent).toContain(NAMES[id]);
    expect(document.body.textContent).not.toContain('native code');
  });
});
