// Issue 3: "The UI refreshes status every ~1.5 s". useStatus, left to its default, asks get_status again
// 1.5 s after each answer.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { renderHook, act } from '@testing-library/react';
import type { Bridge } from '../src/bridge';
import { useStatus } from '../src/hooks/useStatus';
import { FakeBackend } from './fakeBackend';
import { createHttpBridge } from '../src/bridge';

afterEach(() => {
  vi.useRealTimers();
});

describe('useStatus polls every 1.5 s by default', () => {
  it('asks again about 1.5 s after the last answer', async () => {
    vi.useFakeTimers();
    const backend = new FakeBackend();
    const calls: string[] = [];
    const bridge: Bridge = createHttpBridge({
      fetch: (async (url: string, init?: RequestInit) => {
        calls.push(String(url));
        return backend.fetch(String(url), init ?? {});
      }) as unknown as typeof fetch,
      tokenStore: { get: () => 'ao_first_token_1234', set: () => {} },
    });
    const { unmount } = renderHook(() => useStatus(bridge));
    await act(async () => {
      await vi.advanceTimersByTimeAsync(10);
    });
    const first = calls.filter((u) => u.endsWith('/get_status')).length;
    expect(first).toBe(1);
    await act(async () => {
      await vi.advanceTimersByTimeAsync(1_400);
    });
    expect(calls.filter((u) => u.endsWith('/get_status')).length).toBe(1);
    await act(async () => {
      await vi.advanceTimersByTimeAsync(200);
    });
    expect(calls.filter((u) => u.endsWith('/get_status')).length).toBe(2);
    await act(async () => {
      await vi.advanceTimersByTimeAsync(1_500 * 4);
    });
    expect(calls.filter((u) => u.endsWith('/get_status')).length).toBe(6);
    unmount();
  });
});
