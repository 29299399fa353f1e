// Proves that a status poll which leaves a provider unchanged does not re-render its row.
// Render counter: ProviderRow calls healthBadge() exactly once per render, so we spy on it.

import { act, render, screen, waitFor, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Shell } from '../src/App';
import { createDesktopBridge } from '../src/bridge';
import { ProvidersPanel } from '../src/features/providers/ProvidersPanel';
import { healthBadge } from '../src/logic/health';
import { providerNames } from '../src/logic/names';
import { shareStatus } from '../src/logic/share';
import { ToastProvider } from '../src/hooks/toasts';
import type { Actions } from '../src/hooks/useActions';
import type { Status } from '../src/types';
import { FakeBackend, makeStatus } from './fakeBackend';

vi.mock('../src/logic/health', async (importOriginal) => {
  const mod = await importOriginal<typeof import('../src/logic/health')>();
  return { ...mod, healthBadge: vi.fn(mod.healthBadge) };
});

const spy = vi.mocked(healthBadge);
const NAMES = providerNames(makeStatus().providers);

/** Renders per provider, keyed by display name (each fixture provider has a distinct one). */
function rendersByName(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [p] of spy.mock.calls) {
    const name = (p as unknown as { display_name: string }).display_name;
    out[name] = (out[name] ?? 0) + 1;
  }
  return out;
}

function fresh(s: Status): Status {
  return JSON.parse(JSON.stringify(s)) as Status; // what a new JSON reply looks like
}

// (a beforeEach returning a function would register it as a cleanup hook)
beforeEach(() => {
  spy.mockClear();
});
afterEach(() => vi.useRealTimers());

describe('provider rows', () => {
  it('re-render only the provider whose data changed', () => {
    const actions = {} as Actions;
    const refresh = async () => {};
    const first = makeStatus();
    const view = (s: Status) => (
      <ToastProvider>
        <ProvidersPanel
          providerOrder={s.provider_order}
          providers={s.providers}
          metrics={s.metrics}
          quota={s.quota}
          ledgers={s.ledgers}
          names={NAMES}
          preferredProvider={s.preferred_provider}
          activeProvider={s.active_provider}
          manualOverride={s.manual_override}
          actions={actions}
          refresh={refresh}
        />
      </ToastProvider>
    );
    const { rerender } = render(view(first));
    expect(rendersByName()).toEqual({ 'Relay One': 1, 'Relay Two': 1, 'Relay Three': 1, 'Relay Four': 1 });

    // Next poll: brand-new objects everywhere; only p2's failures and the clock changed.
    const raw = fresh(first);
    raw.now_unix_ms += 1500;
    raw.providers.p2.consecutive_failures = 1;
    raw.providers.p2.status = 'unhealthy';
    const second = shareStatus(first, raw);
    expect(second.providers.p1).toBe(first.providers.p1);
    rerender(view(second));
    expect(rendersByName()).toEqual({ 'Relay One': 1, 'Relay Two': 2, 'Relay Three': 1, 'Relay Four': 1 });
    expect(within(screen.getByTestId('provider-row-p2')).getByText('Unhealthy')).toBeTruthy();

    // A poll with only a new server time re-renders no row at all.
    const raw3 = fresh(second);
    raw3.now_unix_ms += 1500;
    const third = shareStatus(second, raw3);
    rerender(view(third));
    expect(rendersByName()).toEqual({ 'Relay One': 1, 'Relay Two': 2, 'Relay Three': 1, 'Relay Four': 1 });

    // Tokens counted since the usage check move for p1 only: only p1 re-renders.
    const raw4 = fresh(third);
    raw4.ledgers.p1.tokens_since_check += 500;
    const fourth = shareStatus(third, raw4);
    expect(fourth.quota).toBe(third.quota);
    rerender(view(fourth));
    expect(rendersByName()).toEqual({ 'Relay One': 2, 'Relay Two': 2, 'Relay Three': 1, 'Relay Four': 1 });
    expect(screen.getByTestId('ledger-p1').textContent).toBe('1.7k tok');
  });

  it('stay put across real polls through useStatus (bridge → store → rows)', async () => {
    const backend = new FakeBackend();
    const bridge = createDesktopBridge(backend.pywebviewApi());
    // The server clock moves on every poll, like the real one.
    const handle = backend.handle.bind(backend);
    backend.handle = (method, args) => {
      if (method === 'get_status') backend.state = { ...backend.state, now_unix_ms: backend.state.now_unix_ms + 1500 };
      return handle(method, args);
    };

    render(
      <ToastProvider>
        <Shell bridge={bridge} initial={null} intervalMs={20} />
      </ToastProvider>,
    );
    await screen.findByTestId('provider-row-p1');
    const before = rendersByName();
    expect(before['Relay One']).toBe(1);

    // Several polls with identical providers: no row renders again.
    const polls = backend.methods().filter((m) => m === 'get_status').length;
    await waitFor(() => expect(backend.methods().filter((m) => m === 'get_status').length).toBeGreaterThan(polls + 3));
    expect(rendersByName()).toEqual(before);

    // p3 recovers: only p3 re-renders.
    act(() => {
      backend.state = {
        ...backend.state,
        providers: {
          ...backend.state.providers,
          p3: { ...backend.state.providers.p3, status: 'healthy', consecutive_failures: 0, cooldown_until_unix_ms: null },
        },
      };
    });
    await waitFor(() => expect(within(screen.getByTestId('provider-row-p3')).getByText('Healthy')).toBeTruthy());
    const after = rendersByName();
    expect(after['Relay One']).toBe(before['Relay One']);
    expect(after['Relay Two']).toBe(before['Relay Two']);
    expect(after['Relay Four']).toBe(before['Relay Four']);
    expect(after['Relay Three']).toBe(before['Relay Three'] + 1);
  });
});
