// The one way the UI talks to the backend (docs/control-api.md).
//
// Desktop: window.pywebview.api.<method>(kwargs) → Promise.
// Browser / headless: POST /api/<method>, JSON kwargs body, Authorization: Bearer <gateway token>.
//
// Components never touch either transport; they get a `Bridge` (see hooks/) and call `bridge.call`.

import { downloadBlob } from './lib/download';
import type { ArgsOf, ExportRequestsArgs, MethodName, ResultOf, SavedExport, Status } from './types';

export type BridgeMode = 'desktop' | 'browser';

export type BridgeErrorKind =
  | 'unauthorized' // 401, or no token in browser mode: go back to the token prompt
  | 'forbidden' // 403
  | 'invalid_request' // 400
  | 'not_found' // 404 (unknown method)
  | 'gateway_error' // 502 (an upstream probe failed badly)
  | 'server' // any other non-2xx, or an unreadable reply
  | 'network' // the gateway could not be reached at all
  | 'backend'; // desktop: the pywebview Promise rejected

export class BridgeError extends Error {
  readonly kind: BridgeErrorKind;
  readonly method: string;
  /** HTTP status (browser mode only). */
  readonly status: number | null;
  /** Backend error `type` from `{"error": {"type"}}` (browser mode only). */
  readonly type: string | null;

  constructor(
    message: string,
    opts: { kind: BridgeErrorKind; method: string; status?: number | null; type?: string | null },
  ) {
    super(message);
    this.name = 'BridgeError';
    this.kind = opts.kind;
    this.method = opts.method;
    this.status = opts.status ?? null;
    this.type = opts.type ?? null;
  }

  get isUnauthorized(): boolean {
    return this.kind === 'unauthorized';
  }
}

/** The message to show a person for any thrown value. */
export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message || e.name;
  if (typeof e === 'string') return e;
  if (e && typeof e === 'object' && 'message' in e) return String((e as { message: unknown }).message);
  return 'Unknown error';
}

type ArgTuple<M extends MethodName> = Record<string, never> extends ArgsOf<M>
  ? [args?: ArgsOf<M>]
  : [args: ArgsOf<M>];

export interface Bridge {
  readonly mode: BridgeMode;
  call<M extends MethodName>(method: M, ...args: ArgTuple<M>): Promise<ResultOf<M>>;
  /** Browser mode: the token in use (null when none). Desktop: always null. */
  getToken(): string | null;
  /** Browser mode: use and remember this token (null forgets it). No-op on desktop. */
  setToken(token: string | null): void;
  /** Browser mode: `get_status` with a candidate token, without adopting it. */
  verifyToken(token: string): Promise<Status>;
  /** Called when a call made with the current token is refused with 401. */
  onUnauthorized(listener: () => void): () => void;
  /** Called after the gateway token changed (rotate, or setToken in browser mode). */
  onTokenChange(listener: (token: string | null) => void): () => void;
  /**
   * Saves the request log's export (a format and the Requests page's filters), which the app makes and
   * writes a page of rows at a time — a long log is never whole in its memory. Browser: a download of
   * `GET /api/export_requests`. Desktop: the OS save dialog, and the app writes the file itself.
   */
  exportRequests(args: ExportRequestsArgs): Promise<SavedExport>;
}

// ---------------------------------------------------------------- token storage

export interface TokenStore {
  get(): string | null;
  set(token: string | null): void;
}

export const TOKEN_STORAGE_KEY = 'api-router.gateway-token';

/** Keeps the token for the browser session only (sessionStorage). */
export function sessionTokenStore(storage: Storage | null = safeSessionStorage()): TokenStore {
  let memory: string | null = null;
  return {
    get() {
      try {
        return storage ? storage.getItem(TOKEN_STORAGE_KEY) : memory;
      } catch {
        return memory;
      }
    },
    set(token) {
      memory = token;
      try {
        if (!storage) return;
        if (token === null) storage.removeItem(TOKEN_STORAGE_KEY);
        else storage.setItem(TOKEN_STORAGE_KEY, token);
      } catch {
        /* storage disabled: keep it in memory */
      }
    },
  };
}

function safeSessionStorage(): Storage | null {
  try {
    return typeof window !== 'undefined' ? window.sessionStorage : null;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------- shared plumbing

class Listeners<T extends unknown[]> {
  private set = new Set<(...a: T) => void>();
  add(fn: (...a: T) => void): () => void {
    this.set.add(fn);
    return () => this.set.delete(fn);
  }
  emit(...a: T): void {
    for (const fn of [...this.set]) fn(...a);
  }
}

function isTokenResult(v: unknown): v is { token: string } {
  return !!v && typeof v === 'object' && typeof (v as { token?: unknown }).token === 'string';
}

// ---------------------------------------------------------------- HTTP transport

export interface HttpBridgeOptions {
  fetch?: typeof fetch;
  /** Prefix before `/api/<method>`; '' means the page's own origin. */
  baseUrl?: string;
  tokenStore?: TokenStore;
  /** How long a call may take before the gateway counts as not answering (default: `callLimitMs`). */
  callLimitMs?: (method: string) => number;
}

// A gateway that holds a call open without answering (hung, stopped, its machine asleep) must not leave
// the page looking live: a call gets this long, then it is the gateway not answering. Provider tests,
// probes and usage checks wait on providers (a test takes up to 50 s), and analytics read a whole window
// of a request log that may hold millions of rows, so they get longer.
const CALL_LIMIT_MS = 15_000;
const STATUS_LIMIT_MS = 8_000;
const SLOW_CALL_LIMIT_MS = 120_000;
const SLOW_CALLS: ReadonlySet<string> = new Set([
  'test_provider',
  'test_all_providers',
  'probe_provider',
  'refresh_usage',
  'apply_codex_setup',
  'restore_codex_backup',
  'get_analytics',
  'get_diagnostics',
]);

export function callLimitMs(method: string): number {
  if (method === 'get_status') return STATUS_LIMIT_MS;
  return SLOW_CALLS.has(method) ? SLOW_CALL_LIMIT_MS : CALL_LIMIT_MS;
}

const KIND_BY_STATUS: Record<number, BridgeErrorKind> = {
  400: 'invalid_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  502: 'gateway_error',
};

export function createHttpBridge(opts: HttpBridgeOptions = {}): Bridge {
  const doFetch = opts.fetch ?? ((input, init) => fetch(input, init));
  const limitOf = opts.callLimitMs ?? callLimitMs;
  const baseUrl = (opts.baseUrl ?? '').replace(/\/+$/, '');
  const store = opts.tokenStore ?? sessionTokenStore();
  let token = store.get();
  const unauthorized = new Listeners<[]>();
  const tokenChange = new Listeners<[string | null]>();
  // Rotations under way: the server may already refuse the old token while its answer (the new one)
  // is still on the way, and a poll refused in between says nothing about the token in use.
  let rotating = 0;

  async function post(method: string, args: unknown, useToken: string | null): Promise<unknown> {
    if (!useToken) {
      throw new BridgeError('No gateway token set', { kind: 'unauthorized', method, status: 401 });
    }
    let res: Response;
    let text: string;
    const limit = limitOf(method);
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), limit);
    try {
      res = await doFetch(`${baseUrl}/api/${method}`, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          Accept: 'application/json',
          Authorization: `Bearer ${useToken}`,
        },
        body: JSON.stringify(args ?? {}),
        cache: 'no-store',
        signal: abort.signal,
      });
      text = await res.text().catch((e: unknown) => {
        if (abort.signal.aborted) throw e;
        return '';
      });
    } catch (e) {
      if (abort.signal.aborted) throw notAnswering(method, limit);
      throw unreachable(e, method);
    } finally {
      clearTimeout(timer);
    }
    let body: unknown = undefined;
    let parsed = false;
    if (text) {
      try {
        body = JSON.parse(text);
        parsed = true;
      } catch {
        /* not JSON */
      }
    }
    if (!res.ok) throw refusal(res, body, method);
    if (!parsed) {
      throw new BridgeError(`Unreadable reply from the gateway for ${method}`, {
        kind: 'server',
        method,
        status: res.status,
      });
    }
    return body;
  }

  function setToken(next: string | null): void {
    token = next;
    store.set(next);
    tokenChange.emit(next);
  }

  return {
    mode: 'browser',
    async call(method, ...rest) {
      const used = token;
      const rotation = method === 'rotate_gateway_token';
      if (rotation) rotating += 1;
      try {
        const result = await post(method, rest[0], used);
        if (rotation && isTokenResult(result)) {
          // The old token stopped working at once: switch before anything else is sent.
          setToken(result.token);
        }
        return result as never;
      } catch (e) {
        // Only report when the refused token is still the one in use and no rotation is replacing it
        // (a reply to a call made before a rotate must not throw the user back to the prompt).
        if (e instanceof BridgeError && e.kind === 'unauthorized' && used === token && (rotation || rotating === 0)) {
          unauthorized.emit();
        }
        throw e;
      } finally {
        if (rotation) rotating -= 1;
      }
    },
    getToken: () => token,
    setToken,
    verifyToken: (candidate) => post('get_status', {}, candidate) as Promise<Status>,
    onUnauthorized: (fn) => unauthorized.add(fn),
    onTokenChange: (fn) => tokenChange.add(fn),
    async exportRequests(args) {
      const method = 'export_requests';
      const used = token;
      if (!used) throw new BridgeError('No gateway token set', { kind: 'unauthorized', method, status: 401 });
      const query = new URLSearchParams();
      for (const [key, value] of Object.entries(args)) {
        if (value !== null && value !== undefined && value !== '') query.set(key, String(value));
      }
      let res: Response;
      try {
        res = await doFetch(`${baseUrl}/api/export_requests?${query.toString()}`, {
          headers: { Authorization: `Bearer ${used}` },
          cache: 'no-store',
        });
      } catch (e) {
        throw unreachable(e, method);
      }
      if (!res.ok) {
        const text = await res.text().catch(() => '');
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          body = undefined;
        }
        const error = refusal(res, body, method);
        if (error.kind === 'unauthorized' && used === token && rotating === 0) unauthorized.emit();
        throw error;
      }
      const filename = `api-router-requests.${args.format}`;
      downloadBlob(await res.blob(), filename);
      return { saved: filename, rows: Number(res.headers.get('X-API-Router-Rows') ?? 0) };
    },
  };
}

/** The BridgeError for a refused HTTP call: the gateway's own message when its JSON error has one. */
function refusal(res: Response, body: unknown, method: string): BridgeError {
  const err = (body as { error?: { message?: unknown; type?: unknown } } | undefined)?.error;
  const message =
    err && typeof err.message === 'string' && err.message
      ? err.message
      : `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`;
  return new BridgeError(message, {
    kind: KIND_BY_STATUS[res.status] ?? 'server',
    method,
    status: res.status,
    type: err && typeof err.type === 'string' ? err.type : null,
  });
}

// ---------------------------------------------------------------- pywebview transport

export type PywebviewApi = Record<string, ((kwargs?: unknown) => Promise<unknown>) | undefined>;

declare global {
  interface Window {
    pywebview?: { api?: PywebviewApi };
  }
}

export function createDesktopBridge(api: PywebviewApi): Bridge {
  const tokenChange = new Listeners<[string | null]>();
  return {
    mode: 'desktop',
    async call(method, ...rest) {
      const fn = api[method];
      if (typeof fn !== 'function') {
        throw new BridgeError(`The desktop app does not provide ${method}`, { kind: 'not_found', method });
      }
      let result: unknown;
      try {
        result = await fn.call(api, rest[0] ?? {});
      } catch (e) {
        throw new BridgeError(errorMessage(e), { kind: 'backend', method });
      }
      if (method === 'rotate_gateway_token' && isTokenResult(result)) tokenChange.emit(result.token);
      return result as never;
    },
    getToken: () => null,
    setToken: () => {},
    verifyToken: async () => {
      const fn = api.get_status;
      if (typeof fn !== 'function') throw new BridgeError('get_status missing', { kind: 'not_found', method: 'get_status' });
      return (await fn.call(api, {})) as Status;
    },
    onUnauthorized: () => () => {},
    onTokenChange: (fn) => tokenChange.add(fn),
    // pywebview drops Blob downloads on some engines; the app asks where to save and writes the file.
    async exportRequests(args) {
      const fn = api.save_export;
      if (typeof fn !== 'function') {
        throw new BridgeError('The desktop app cannot save files', { kind: 'not_found', method: 'save_export' });
      }
      let result: unknown;
      try {
        result = await fn.call(api, args);
      } catch (e) {
        throw new BridgeError(errorMessage(e), { kind: 'backend', method: 'save_export' });
      }
      const r = result as { saved?: unknown; rows?: unknown } | null;
      return { saved: typeof r?.saved === 'string' ? r.saved : null, rows: typeof r?.rows === 'number' ? r.rows : 0 };
    },
  };
}

// ---------------------------------------------------------------- detection

function readyApi(win: Window): PywebviewApi | null {
  const api = win.pywebview?.api;
  return api && typeof api.get_status === 'function' ? api : null;
}

/** True when the page was (probably) opened by pywebview: from disk, or with `?desktop=1`. */
export function expectsDesktop(win: Window): boolean {
  if (win.pywebview) return true;
  if (win.location.protocol === 'file:') return true;
  const flag = new URLSearchParams(win.location.search).get('desktop');
  return flag !== null && flag !== '0' && flag !== 'false';
}

/**
 * Resolves to the pywebview API when present. When the page looks like it was opened by pywebview
 * but the API is not injected yet, waits up to `timeoutMs` for `pywebviewready`.
 */
export function waitForDesktopApi(win: Window = window, timeoutMs = 1500): Promise<PywebviewApi | null> {
  const now = readyApi(win);
  if (now) return Promise.resolve(now);
  if (!expectsDesktop(win)) return Promise.resolve(null);
  return new Promise((resolve) => {
    const done = () => {
      win.removeEventListener('pywebviewready', onReady);
      clearTimeout(timer);
      resolve(win.pywebview?.api ?? null);
    };
    const onReady = () => done();
    const timer = setTimeout(done, timeoutMs);
    win.addEventListener('pywebviewready', onReady);
  });
}

export interface CreateBridgeOptions extends HttpBridgeOptions {
  window?: Window;
  desktopWaitMs?: number;
}

/** Picks the transport: pywebview when available, HTTP otherwise. */
export async function createBridge(opts: CreateBridgeOptions = {}): Promise<Bridge> {
  const api = await waitForDesktopApi(opts.window ?? window, opts.desktopWaitMs ?? 1500);
  return api ? createDesktopBridge(api) : createHttpBridge(opts);
}

/** A call that got no answer at all: the app not running (or restarting), in words that say so. */
function notAnswering(method: string, limitMs: number): BridgeError {
  return new BridgeError(
    `API Router's gateway did not answer within ${Math.round(limitMs / 1000)} s (is the app running, or busy?)`,
    { kind: 'network', method },
  );
}

function unreachable(e: unknown, method: string): BridgeError {
  return new BridgeError(`Cannot reach API Router's gateway (is the app running?): ${errorMessage(e)}`, {
    kind: 'network',
    method,
  });
}
