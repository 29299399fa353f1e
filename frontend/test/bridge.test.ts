import { describe, expect, it, vi } from 'vitest';
import {
  BridgeError,
  TOKEN_STORAGE_KEY,
  createBridge,
  createDesktopBridge,
  createHttpBridge,
  expectsDesktop,
  sessionTokenStore,
  waitForDesktopApi,
  type TokenStore,
} from '../src/bridge';
import { FakeBackend, json } from './fakeBackend';

function memoryStore(initial: string | null = null): TokenStore & { value: string | null } {
  return {
    value: initial,
    get() {
      return this.value;
    },
    set(t) {
      this.value = t;
    },
  };
}

describe('HTTP transport', () => {
  it('POSTs /api/<method> with a JSON kwargs body and the bearer token', async () => {
    const fetch = vi.fn(async () => json(200, { ok: true, status: 200, latency_ms: 1, models: [], error: '' }));
    const bridge = createHttpBridge({ fetch, tokenStore: memoryStore('ao_tok') });
    expect(bridge.mode).toBe('browser');
    await bridge.call('probe_provider', { provider: 'p1' });
    expect(fetch).toHaveBeenCalledTimes(1);
    const [url, init] = fetch.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('/api/probe_provider');
    expect(init.method).toBe('POST');
    expect(JSON.parse(String(init.body))).toEqual({ provider: 'p1' });
    const headers = new Headers(init.headers);
    expect(headers.get('Authorization')).toBe('Bearer ao_tok');
    expect(headers.get('Content-Type')).toBe('application/json');
  });

  it('sends {} when a method has no arguments, and honours baseUrl', async () => {
    const fetch = vi.fn(async () => json(200, { token: 'x' }));
    const bridge = createHttpBridge({ fetch, baseUrl: 'http://127.0.0.1:4000/', tokenStore: memoryStore('t') });
    await bridge.call('get_gateway_token');
    const [url, init] = fetch.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('http://127.0.0.1:4000/api/get_gateway_token');
    expect(init.body).toBe('{}');
  });

  it('returns the parsed result', async () => {
    const backend = new FakeBackend();
    const bridge = createHttpBridge({ fetch: backend.fetch, tokenStore: memoryStore(backend.token) });
    const status = await bridge.call('get_status');
    expect(status.gateway_url).toBe('http://127.0.0.1:4000/v1');
    expect(status.provider_order).toEqual(['p1', 'p2', 'p3', 'p4']);
  });

  it.each([
    [400, 'invalid_request_error', 'invalid_request'],
    [403, 'forbidden', 'forbidden'],
    [404, 'not_found', 'not_found'],
    [502, 'gateway_error', 'gateway_error'],
    [500, 'server_error', 'server'],
  ] as const)('maps HTTP %i to a BridgeError carrying the backend message', async (status, type, kind) => {
    const fetch = vi.fn(async () => json(status, { error: { message: `backend says ${status}`, type } }));
    const bridge = createHttpBridge({ fetch, tokenStore: memoryStore('t') });
    const err = await bridge.call('get_config').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BridgeError);
    const be = err as BridgeError;
    expect(be.message).toBe(`backend says ${status}`);
    expect(be.kind).toBe(kind);
    expect(be.status).toBe(status);
    expect(be.type).toBe(type);
    expect(be.method).toBe('get_config');
    expect(be.isUnauthorized).toBe(false);
  });

  it('falls back to the HTTP status when the error body is not the contract shape', async () => {
    const fetch = vi.fn(async () => new Response('<html>oops</html>', { status: 500, statusText: 'Internal Server Error' }));
    const bridge = createHttpBridge({ fetch, tokenStore: memoryStore('t') });
    await expect(bridge.call('get_config')).rejects.toMatchObject({
      kind: 'server',
      message: 'HTTP 500 Internal Server Error',
    });
  });

  it('reports an unreadable 2xx reply', async () => {
    const fetch = vi.fn(async () => new Response('not json', { status: 200 }));
    const bridge = createHttpBridge({ fetch, tokenStore: memoryStore('t') });
    await expect(bridge.call('get_config')).rejects.toMatchObject({ kind: 'server' });
  });

  it('reports a network failure as kind "network"', async () => {
    const fetch = vi.fn(async () => {
      throw new TypeError('Failed to fetch');
    });
    const bridge = createHttpBridge({ fetch, tokenStore: memoryStore('t') });
    await expect(bridge.call('get_status')).rejects.toMatchObject({
      kind: 'network',
      message: "Cannot reach API Router's gateway (is the app running?): Failed to fetch",
    });
  });

  it('reports a 401 distinctly and tells the app to go back to the token prompt', async () => {
    const backend = new FakeBackend();
    const bridge = createHttpBridge({ fetch: backend.fetch, tokenStore: memoryStore('ao_wrong') });
    const onUnauthorized = vi.fn();
    bridge.onUnauthorized(onUnauthorized);
    const err = (await bridge.call('get_status').catch((e: unknown) => e)) as BridgeError;
    expect(err).toBeInstanceOf(BridgeError);
    expect(err.isUnauthorized).toBe(true);
    expect(err.kind).toBe('unauthorized');
    expect(err.status).toBe(401);
    expect(err.message).toBe('invalid gateway token');
    expect(onUnauthorized).toHaveBeenCalledTimes(1);
  });

  it('does not send anything without a token', async () => {
    const fetch = vi.fn();
    const bridge = createHttpBridge({ fetch, tokenStore: memoryStore(null) });
    await expect(bridge.call('get_status')).rejects.toMatchObject({ kind: 'unauthorized' });
    expect(fetch).not.toHaveBeenCalled();
  });

  it('verifyToken checks a candidate without adopting it or signalling 401', async () => {
    const backend = new FakeBackend();
    const store = memoryStore(null);
    const bridge = createHttpBridge({ fetch: backend.fetch, tokenStore: store });
    const onUnauthorized = vi.fn();
    bridge.onUnauthorized(onUnauthorized);
    await expect(bridge.verifyToken('nope')).rejects.toMatchObject({ kind: 'unauthorized' });
    expect(onUnauthorized).not.toHaveBeenCalled();
    const status = await bridge.verifyToken(backend.token);
    expect(status.version).toBe('0.1.0');
    expect(bridge.getToken()).toBeNull();
    expect(store.value).toBeNull();
  });

  it('switches to the new token after rotate_gateway_token, and stores it', async () => {
    const backend = new FakeBackend();
    const store = memoryStore(backend.token);
    const bridge = createHttpBridge({ fetch: backend.fetch, tokenStore: store });
    const onToken = vi.fn();
    const onUnauthorized = vi.fn();
    bridge.onTokenChange(onToken);
    bridge.onUnauthorized(onUnauthorized);

    const { token } = await bridge.call('rotate_gateway_token');
    expect(token).toBe('ao_second_token_5678');
    expect(bridge.getToken()).toBe(token);
    expect(store.value).toBe(token);
    expect(onToken).toHaveBeenCalledWith(token);

    // The next call goes out with the new token and succeeds.
    await expect(bridge.call('get_status')).resolves.toMatchObject({ version: '0.1.0' });
    expect(onUnauthorized).not.toHaveBeenCalled();
    expect(backend.methods()).toEqual(['rotate_gateway_token', 'get_status']);
  });

  it('a late 401 for a call sent with the old token does not throw the user out', async () => {
    let release!: (r: Response) => void;
    const slow = new Promise<Response>((r) => (release = r));
    const fetch = vi
      .fn<typeof globalThis.fetch>()
      .mockImplementationOnce(() => slow) // get_status with the old token, answered late
      .mockImplementationOnce(async () => json(200, { token: 'ao_new' })); // rotate
    const bridge = createHttpBridge({ fetch, tokenStore: memoryStore('ao_old') });
    const onUnauthorized = vi.fn();
    bridge.onUnauthorized(onUnauthorized);
    const pending = bridge.call('get_status').catch((e: unknown) => e);
    await bridge.call('rotate_gateway_token');
    release(json(401, { error: { message: 'invalid gateway token', type: 'unauthorized' } }));
    expect(await pending).toMatchObject({ kind: 'unauthorized' });
    expect(onUnauthorized).not.toHaveBeenCalled();
    expect(bridge.getToken()).toBe('ao_new');
  });

  it('a 401 that arrives while the answer to a rotation is still on its way does not throw the user out', async () => {
    // The server switched tokens; a poll sent with the old one is refused before the client hears the new one.
    let answerRotate!: (r: Response) => void;
    const rotating = new Promise<Response>((r) => (answerRotate = r));
    const fetch = vi
      .fn<typeof globalThis.fetch>()
      .mockImplementationOnce(() => rotating) // rotate, answered late
      .mockImplementationOnce(async () => json(401, { error: { message: 'invalid gateway token', type: 'unauthorized' } }))
      .mockImplementationOnce(async () => json(401, { error: { message: 'invalid gateway token', type: 'unauthorized' } }));
    const bridge = createHttpBridge({ fetch, tokenStore: memoryStore('ao_old') });
    const onUnauthorized = vi.fn();
    bridge.onUnauthorized(onUnauthorized);
    const rotation = bridge.call('rotate_gateway_token');
    expect(await bridge.call('get_status').catch((e: unknown) => e)).toMatchObject({ kind: 'unauthorized' });
    expect(onUnauthorized).not.toHaveBeenCalled();
    answerRotate(json(200, { token: 'ao_new' }));
    await rotation;
    expect(bridge.getToken()).toBe('ao_new');
    // Once no rotation is under way, a refused token is refused again.
    await bridge.call('get_status').catch(() => undefined);
    expect(onUnauthorized).toHaveBeenCalledTimes(1);
  });

  it('setToken(null) forgets the token', () => {
    const store = memoryStore('abc');
    const bridge = createHttpBridge({ fetch: vi.fn(), tokenStore: store });
    bridge.setToken(null);
    expect(bridge.getToken()).toBeNull();
    expect(store.value).toBeNull();
  });
});

describe('sessionTokenStore', () => {
  it('keeps the token in sessionStorage', () => {
    const store = sessionTokenStore(window.sessionStorage);
    store.set('ao_x');
    expect(window.sessionStorage.getItem(TOKEN_STORAGE_KEY)).toBe('ao_x');
    expect(sessionTokenStore(window.sessionStorage).get()).toBe('ao_x');
    store.set(null);
    expect(window.sessionStorage.getItem(TOKEN_STORAGE_KEY)).toBeNull();
  });

  it('works in memory when storage is unavailable', () => {
    const store = sessionTokenStore(null);
    store.set('a');
    expect(store.get()).toBe('a');
  });
});

describe('pywebview transport', () => {
  it('calls window.pywebview.api.<method>(kwargs) and returns its result', async () => {
    const backend = new FakeBackend();
    const api = backend.pywebviewApi();
    const spy = vi.spyOn(api, 'set_provider_disabled');
    const bridge = createDesktopBridge(api);
    expect(bridge.mode).toBe('desktop');
    const config = await bridge.call('set_provider_disabled', { provider: 'p2', disabled: true });
    expect(spy).toHaveBeenCalledWith({ provider: 'p2', disabled: true });
    expect(config.providers.p2.disabled).toBe(true);
  });

  it('passes {} when there are no arguments', async () => {
    const get_status = vi.fn(async () => ({}));
    await createDesktopBridge({ get_status }).call('get_status');
    expect(get_status).toHaveBeenCalledWith({});
  });

  it('turns a rejected Error into a BridgeError with the same message', async () => {
    const backend = new FakeBackend();
    const bridge = createDesktopBridge(backend.pywebviewApi());
    const err = (await bridge.call('delete_provider', { provider: 'zz' }).catch((e: unknown) => e)) as BridgeError;
    expect(err).toBeInstanceOf(BridgeError);
    expect(err.message).toBe('unknown provider: zz');
    expect(err.kind).toBe('backend');
    expect(err.isUnauthorized).toBe(false);
  });

  it('accepts non-Error rejections (plain objects, strings)', async () => {
    const bridge = createDesktopBridge({
      get_config: () => Promise.reject({ message: 'plain object', name: 'ValueError' }),
      get_status: () => Promise.reject('just a string'),
    });
    await expect(bridge.call('get_config')).rejects.toMatchObject({ message: 'plain object' });
    await expect(bridge.call('get_status')).rejects.toMatchObject({ message: 'just a string' });
  });

  it('reports a method the desktop app does not expose', async () => {
    await expect(createDesktopBridge({}).call('get_status')).rejects.toMatchObject({ kind: 'not_found' });
  });

  it('announces a rotated token; needs no token itself', async () => {
    const backend = new FakeBackend();
    const bridge = createDesktopBridge(backend.pywebviewApi());
    const onToken = vi.fn();
    bridge.onTokenChange(onToken);
    await bridge.call('rotate_gateway_token');
    expect(onToken).toHaveBeenCalledWith('ao_second_token_5678');
    expect(bridge.getToken()).toBeNull();
  });

  it('saves exports through the app (the path it chose, null when cancelled, the reason when refused)', async () => {
    const save_export = vi.fn(async (kwargs?: unknown) => {
      const { format, provider } = kwargs as { format: string; provider?: string };
      if (provider === 'nowhere') throw new Error('could not save /x/no.csv: Permission denied');
      return { saved: provider === 'cancel' ? null : `/home/u/Downloads/api-router-requests.${format}`, rows: 3 };
    });
    const bridge = createDesktopBridge({ get_status: vi.fn(), save_export });
    await expect(bridge.exportRequests({ format: 'csv', provider: 'p1' })).resolves.toEqual({
      saved: '/home/u/Downloads/api-router-requests.csv',
      rows: 3,
    });
    expect(save_export).toHaveBeenCalledWith({ format: 'csv', provider: 'p1' });
    await expect(bridge.exportRequests({ format: 'csv', provider: 'cancel' })).resolves.toEqual({ saved: null, rows: 3 });
    await expect(bridge.exportRequests({ format: 'csv', provider: 'nowhere' })).rejects.toMatchObject({
      kind: 'backend',
      message: 'could not save /x/no.csv: Permission denied',
    });
    await expect(createDesktopBridge({}).exportRequests({ format: 'csv' })).rejects.toMatchObject({ kind: 'not_found' });
  });
});

type FakeWin = EventTarget & { location: { protocol: string; search: string }; pywebview?: { api?: unknown } };

function fakeWindow(protocol: string, search = '', pywebview?: FakeWin['pywebview']): Window {
  const w = new EventTarget() as FakeWin;
  w.location = { protocol, search };
  if (pywebview) w.pywebview = pywebview;
  return w as unknown as Window;
}

describe('transport detection', () => {
  const api = new FakeBackend().pywebviewApi();

  it('uses pywebview at once when its API is there', async () => {
    await expect(waitForDesktopApi(fakeWindow('http:', '', { api }), 10_000)).resolves.toBe(api);
  });

  it('expects pywebview for file: pages, ?desktop=1, or a half-injected window.pywebview', () => {
    expect(expectsDesktop(fakeWindow('file:'))).toBe(true);
    expect(expectsDesktop(fakeWindow('http:', '?desktop=1'))).toBe(true);
    expect(expectsDesktop(fakeWindow('http:', '?desktop=0'))).toBe(false);
    expect(expectsDesktop(fakeWindow('http:', '', {}))).toBe(true);
    expect(expectsDesktop(fakeWindow('http:', '?x=1'))).toBe(false);
  });

  it('does not wait in a plain browser tab', async () => {
    vi.useFakeTimers();
    try {
      const result = waitForDesktopApi(fakeWindow('http:'), 1500);
      await expect(result).resolves.toBeNull();
    } finally {
      vi.useRealTimers();
    }
  });

  it('waits for pywebviewready when opened by pywebview', async () => {
    vi.useFakeTimers();
    try {
      const win = fakeWindow('file:');
      const result = waitForDesktopApi(win, 1500);
      await vi.advanceTimersByTimeAsync(400);
      (win as unknown as FakeWin).pywebview = { api };
      win.dispatchEvent(new Event('pywebviewready'));
      await expect(result).resolves.toBe(api);
    } finally {
      vi.useRealTimers();
    }
  });

  it('gives up after the timeout', async () => {
    vi.useFakeTimers();
    try {
      const result = waitForDesktopApi(fakeWindow('http:', '?desktop=1'), 1500);
      await vi.advanceTimersByTimeAsync(1500);
      await expect(result).resolves.toBeNull();
    } finally {
      vi.useRealTimers();
    }
  });

  it('createBridge picks the transport', async () => {
    const desktop = await createBridge({ window: fakeWindow('http:', '', { api }) });
    expect(desktop.mode).toBe('desktop');
    const browser = await createBridge({ window: fakeWindow('https:'), fetch: vi.fn(), tokenStore: memoryStore() });
    expect(browser.mode).toBe('browser');
  });
});
