// Late answers and stale closures: what arrives after the user moved on must not undo what they did.

import { act, fireEvent, render, renderHook, screen } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BridgeError, type Bridge } from '../src/bridge';
import { TESTS_AT_ONCE, useProviderTests } from '../src/features/providers/useProviderTests';
import { RequestFiltersBar } from '../src/features/requests/RequestFiltersBar';
import type { ToastApi } from '../src/hooks/toasts';
import { useActions, type ActionResult } from '../src/hooks/useActions';
import { useGatewayToken } from '../src/hooks/useGatewayToken';
import type { RequestFilterParams } from '../src/logic/requests';
import type { ProviderTest } from '../src/types';

function deferred<T>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

const passed = (note: string) => ({ ok: true, value: { ok: true, note } as unknown as ProviderTest }) as const;
const failed = (note: string) => ({ ok: true, value: { ok: false, note } as unknown as ProviderTest }) as const;

afterEach(() => vi.useRealTimers());

describe('useActions', () => {
  it('stays the same object when a provider is renamed, and its toasts use the new name', async () => {
    const failing = {
      mode: 'desktop',
      call: () => Promise.reject(new BridgeError('refused', { kind: 'server', method: 'probe_provider' })),
    } as unknown as Bridge;
    const toasts: ToastApi = { push: vi.fn(() => 1), dismiss: vi.fn(), hold: vi.fn(), release: vi.fn() };
    const deps = { bridge: failing, refresh: async () => {}, apply: () => {}, toasts };
    const { result, rerender } = renderHook(({ names }) => useActions({ ...deps, names }), {
      initialProps: { names: { p1: 'Relay One' } },
    });
    const before = result.current;
    rerender({ names: { p1: 'Relay Uno' } });
    // A form that loaded through it on mount (Settings) is not loaded again over the user's edits.
    expect(result.current).toBe(before);
    await act(async () => {
      await result.current.probeProvider('p1');
    });
    expect(toasts.push).toHaveBeenCalledWith(expect.objectContaining({ title: expect.stringContaining('Relay Uno') }));
  });
});

describe('provider test results', () => {
  it('an older run that finishes last does not replace the newer result', async () => {
    const runs = [deferred<ActionResult<ProviderTest>>(), deferred<ActionResult<ProviderTest>>()];
    const queue = [...runs];
    const actions = { testProvider: vi.fn(() => queue.shift()!.promise) };
    const { result } = renderHook(() => useProviderTests(actions));
    act(() => result.current.test('p'));
    act(() => result.current.close('p'));
    act(() => result.current.test('p'));
    await act(async () => runs[1].resolve(passed('second')));
    await act(async () => runs[0].resolve(failed('first')));
    expect(result.current.byId.p).toEqual({ loading: false, result: { ok: true, note: 'second' } });
  });

  it('a strip closed while its test runs stays closed', async () => {
    const run = deferred<ActionResult<ProviderTest>>();
    const { result } = renderHook(() => useProviderTests({ testProvider: () => run.promise }));
    act(() => result.current.test('q'));
    act(() => result.current.close('q'));
    await act(async () => run.resolve(passed('late')));
    expect(result.current.byId.q).toBeUndefined();
  });

  it('a row tested on its own during "Test all" keeps its own result', async () => {
    const runs: Record<string, ReturnType<typeof deferred<ActionResult<ProviderTest>>>[]> = { a: [], b: [] };
    const testProvider = (id: string) => {
      const d = deferred<ActionResult<ProviderTest>>();
      runs[id].push(d);
      return d.promise;
    };
    const { result } = renderHook(() => useProviderTests({ testProvider }));
    act(() => result.current.testAll(['a', 'b']));
    act(() => result.current.test('b'));
    await act(async () => runs.b[1].resolve(passed('alone')));
    await act(async () => runs.a[0].resolve(passed('a')));
    await act(async () => runs.b[0].resolve(failed('from test all')));
    expect(result.current.byId.b).toEqual({ loading: false, result: { ok: true, note: 'alone' } });
    expect(result.current.byId.a).toEqual({ loading: false, result: { ok: true, note: 'a' } });
  });

  it('"Test all" shows each provider\'s result as soon as it has one, and is busy until the last', async () => {
    const a = deferred<ActionResult<ProviderTest>>();
    const slow = deferred<ActionResult<ProviderTest>>();
    const { result } = renderHook(() => useProviderTests({ testProvider: (id: string) => (id === 'a' ? a : slow).promise }));
    act(() => result.current.testAll(['a', 'slow']));
    await act(async () => a.resolve(passed('quick')));
    expect(result.current.byId.a).toEqual({ loading: false, result: { ok: true, note: 'quick' } });
    expect(result.current.byId.slow).toMatchObject({ loading: true });
    expect(result.current.allBusy).toBe(true);
    await act(async () => slow.resolve(failed('hung')));
    expect(result.current.allBusy).toBe(false);
  });

  it('"Test all" keeps at most TESTS_AT_ONCE tests under way, starting the next as one ends', async () => {
    const pending = new Map<string, ReturnType<typeof deferred<ActionResult<ProviderTest>>>>();
    const testProvider = (id: string) => {
      const d = deferred<ActionResult<ProviderTest>>();
      pending.set(id, d);
      return d.promise;
    };
    const ids = Array.from({ length: TESTS_AT_ONCE + 2 }, (_, i) => `p${i}`);
    const { result } = renderHook(() => useProviderTests({ testProvider }));
    act(() => result.current.testAll(ids));
    expect([...pending.keys()]).toEqual(ids.slice(0, TESTS_AT_ONCE));
    await act(async () => pending.get('p0')!.resolve(passed('first')));
    expect([...pending.keys()]).toEqual(ids.slice(0, TESTS_AT_ONCE + 1));
    expect(result.current.byId.p0).toEqual({ loading: false, result: { ok: true, note: 'first' } });
  });
});

/** The filters bar over one provider, 'a'. */
const filtersBar = (value: RequestFilterParams, onChange: (next: RequestFilterParams) => void) => (
  <RequestFiltersBar value={value} providerIds={['a']} nameOf={(x) => x} onChange={onChange} />
);

describe('RequestFiltersBar', () => {
  it('Clear drops text typed a moment before, instead of applying it after the pause', () => {
    vi.useFakeTimers();
    const onChange = vi.fn();
    const value = { provider: 'a', outcome: '', session: '', q: '' };
    const { rerender } = render(filtersBar(value, onChange));
    fireEvent.change(screen.getByLabelText('Search'), { target: { value: 'boom' } });
    fireEvent.click(screen.getByRole('button', { name: 'Clear filters' }));
    const cleared = { provider: '', outcome: '', session: '', q: '' };
    expect(onChange.mock.calls).toEqual([[cleared]]);
    rerender(filtersBar(cleared, onChange));
    act(() => vi.advanceTimersByTime(1_000));
    expect(onChange.mock.calls).toEqual([[cleared]]);
    expect((screen.getByLabelText('Search') as HTMLInputElement).value).toBe('');
  });

  it('typing is applied once it pauses, and a filter chosen meanwhile takes the typed text along', () => {
    vi.useFakeTimers();
    const onChange = vi.fn();
    const value = { provider: '', outcome: '', session: '', q: '' };
    render(filtersBar(value, onChange));
    fireEvent.change(screen.getByLabelText('Search'), { target: { value: 'bo' } });
    act(() => vi.advanceTimersByTime(100));
    fireEvent.change(screen.getByLabelText('Search'), { target: { value: 'boom' } });
    act(() => vi.advanceTimersByTime(299));
    expect(onChange).not.toHaveBeenCalled();
    act(() => vi.advanceTimersByTime(1));
    expect(onChange.mock.calls).toEqual([[{ ...value, q: 'boom' }]]);
    fireEvent.change(screen.getByLabelText('Session'), { target: { value: 'sess' } });
    fireEvent.change(screen.getByLabelText('Provider'), { target: { value: 'a' } });
    act(() => vi.advanceTimersByTime(1_000));
    expect(onChange.mock.calls.slice(1)).toEqual([[{ provider: 'a', outcome: '', session: 'sess', q: 'boom' }]]);
  });
});

describe('RequestFiltersBar, navigation', () => {
  it('typing still waiting for its pause is dropped when the address changes (a link, Back)', () => {
    vi.useFakeTimers();
    const onChange = vi.fn();
    const start = { provider: '', outcome: '', session: '', q: '' };
    const { rerender } = render(filtersBar(start, onChange));
    fireEvent.change(screen.getByLabelText('Search'), { target: { value: 'boom' } });
    const linked = { provider: 'a', outcome: '', session: 'sess-1', q: '' };
    rerender(filtersBar(linked, onChange));
    act(() => vi.advanceTimersByTime(1_000));
    expect(onChange).not.toHaveBeenCalled();
    expect((screen.getByLabelText('Search') as HTMLInputElement).value).toBe('');
    // typed and typed back within the pause: nothing to apply
    fireEvent.change(screen.getByLabelText('Search'), { target: { value: 'x' } });
    fireEvent.change(screen.getByLabelText('Search'), { target: { value: '' } });
    act(() => vi.advanceTimersByTime(1_000));
    expect(onChange).not.toHaveBeenCalled();
  });
});

describe('useGatewayToken', () => {
  it('a first read answered after a rotation does not bring the old token back', async () => {
    const first = deferred<{ token: string }>();
    let announce: (t: string | null) => void = () => {};
    const bridge = {
      mode: 'browser',
      call: () => first.promise,
      onTokenChange: (listener: (t: string | null) => void) => {
        announce = listener;
        return () => {};
      },
    } as unknown as Bridge;
    const toasts: ToastApi = { push: vi.fn(() => 1), dismiss: vi.fn(), hold: vi.fn(), release: vi.fn() };
    const { result } = renderHook(() => useGatewayToken(bridge, toasts, true));
    act(() => announce('gw-new'));
    await act(async () => first.resolve({ token: 'gw-old' }));
    expect(result.current).toBe('gw-new');
  });
});
