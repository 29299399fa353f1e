// README: when the gateway holds calls open without a word, "a status poll waits 8 s, other calls 15 s; tests,
// probes, usage checks and the Usage page's analytics 2 minutes". And an export's toast counts the rows the
// gateway says it wrote (X-API-Router-Rows).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { callLimitMs, createHttpBridge, type TokenStore } from '../src/bridge';

vi.mock('../src/lib/download', () => ({ downloadBlob: vi.fn() }));

function store(value: string | null): TokenStore {
  return { get: () => value, set: (t) => void (value = t) };
}

/** A fetch that never answers, but gives up when its signal aborts (as the real one does). */
function hangingFetch() {
  return vi.fn(
    (_url: string, init?: RequestInit) =>
      new Promise<Response>((_resolve, reject) => {
        init?.signal?.addEventListener('abort', () => reject(new DOMException('The operation was aborted.', 'AbortError')));
      }),
  );
}

afterEach(() => {
  vi.useRealTimers();
});

describe('how long a call may take', () => {
  it.each([
    ['get_status', 8_000],
    ['list_requests', 15_000],
    ['update_routing', 15_000],
    ['test_provider', 120_000],
    ['test_all_providers', 120_000],
    ['probe_provider', 120_000],
    ['refresh_usage', 120_000],
    ['get_analytics', 120_000],
  ])('%s: %d ms', (method, ms) => expect(callLimitMs(method)).toBe(ms));

  it('a status poll gives up after 8 s, saying the gateway did not answer', async () => {
    vi.useFakeTimers();
    const bridge = createHttpBridge({ fetch: hangingFetch() as unknown as typeof fetch, tokenStore: store('ao_tok') });
    const call = bridge.call('get_status');
    const settled = call.then(
      () => 'resolved',
      (e: unknown) => e,
    );
    await vi.advanceTimersByTimeAsync(7_900);
    let done = false;
    void settled.then(() => (done = true));
    await Promise.resolve();
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(200);
    const err = (await settled) as { kind: string; message: string };
    expect(err.kind).toBe('network');
    expect(err.message).toMatch(/did not answer within 8 s/);
  });

  it('another call gives up after 15 s', async () => {
    vi.useFakeTimers();
    const bridge = createHttpBridge({ fetch: hangingFetch() as unknown as typeof fetch, tokenStore: store('ao_tok') });
    const settled = bridge.call('list_requests', {}).then(
      () => 'resolved',
      (e: unknown) => e,
    );
    await vi.advanceTimersByTimeAsync(15_100);
    expect(((await settled) as Error).message).toMatch(/did not answer within 15 s/);
  });
});

describe('exportRequests (browser)', () => {
  it('reports the rows the gateway wrote', async () => {
    const fetch = vi.fn(
      async () =>
        new Response('id,time\n1,2\n2,3\n', { status: 200, headers: { 'Content-Type': 'text/csv', 'X-API-Router-Rows': '2' } }),
    );
    const bridge = createHttpBridge({ fetch: fetch as unknown as typeof globalThis.fetch, tokenStore: store('ao_tok') });
    await expect(bridge.exportRequests({ format: 'csv', provider: 'p1' })).resolves.toEqual({
      saved: 'api-router-requests.csv',
      rows: 2,
    });
    const [url] = fetch.mock.calls[0] as unknown as [string];
    expect(url).toBe('/api/export_requests?format=csv&provider=p1');
  });
});
