// An in-memory stand-in for api_router.control.Control, following docs/control-api.md, exposed
// both as a fake `window.pywebview.api` and as a fake `fetch` for POST /api/<method>.

import type {
  AnalyticsWindow,
  CodexSetup,
  Config,
  GatewayEvent,
  ProviderMetrics,
  ProviderStatus,
  RoutingConfig,
  Status,
} from '../src/types';
import { NOW, makeQuotaEntry, makeSnapshot, seededLedgers, seededQuota, seededRequests, sessions, summary, timeline, type FakeRequest } from './fakeUsage';

export { NOW, SESSION_A, SESSION_B, makeQuotaEntry, makeSnapshot } from './fakeUsage';

export class FakeError extends Error {
  constructor(
    message: string,
    readonly status = 400,
    readonly type = 'invalid_request_error',
  ) {
    super(message);
  }
}

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export function makeProvider(over: Partial<ProviderStatus> = {}): ProviderStatus {
  return {
    display_name: 'Relay',
    base_url: 'https://relay.example.com/v1',
    disabled: false,
    has_key: true,
    key_preview: 'sk-a…9f2c',
    usage_adapter: '',
    usage_base_url: '',
    status: 'healthy',
    consecutive_failures: 0,
    cooldown_until_unix_ms: null,
    last_error: '',
    last_ok_at_unix_ms: NOW - 5000,
    last_fail_at_unix_ms: null,
    ...over,
  };
}

export function makeStatus(over: Partial<Status> = {}): Status {
  const providers: Record<string, ProviderStatus> = {
    p1: makeProvider({ display_name: 'Relay One' }),
    p2: makeProvider({ display_name: 'Relay Two', base_url: 'https://two.example.com/v1' }),
    p3: makeProvider({
      display_name: 'Relay Three',
      base_url: 'https://three.example.com/v1',
      status: 'cooldown',
      consecutive_failures: 3,
      cooldown_until_unix_ms: NOW + 27_000,
      last_error: 'upstream 502: bad gateway while reading the response body from the relay',
      last_fail_at_unix_ms: NOW - 3000,
    }),
    p4: makeProvider({ display_name: 'Relay Four', disabled: true, status: 'disabled', has_key: false, key_preview: '' }),
  };
  const metrics: Record<string, ProviderMetrics> = {
    p1: { ok_requests: 10, error_requests: 1, total_tokens: 12345 },
    p2: { ok_requests: 0, error_requests: 0, total_tokens: 0 },
    p3: { ok_requests: 4, error_requests: 3, total_tokens: 2_500_000 },
  };
  const events: GatewayEvent[] = [
    { id: 3, unix_ms: NOW - 1000, level: 'error', provider: 'p3', kind: 'request_failed', message: 'upstream 502', seen: false },
    { id: 2, unix_ms: NOW - 2000, level: 'warning', provider: 'p3', kind: 'cooldown', message: 'p3 cooling down', seen: false },
    { id: 1, unix_ms: NOW - 3000, level: 'info', provider: null, kind: 'started', message: 'gateway started', seen: true },
  ];
  const routing: RoutingConfig = {
    preferred_provider: 'p1',
    auto_return_to_preferred: true,
    preferred_stable_seconds: 30,
    failure_threshold: 2,
    cooldown_seconds: 30,
    request_timeout_seconds: 60,
    stream_idle_timeout_seconds: 300,
  };
  return {
    version: '0.1.0',
    listen: { host: '127.0.0.1', port: 4000 },
    gateway_url: 'http://127.0.0.1:4000/v1',
    provider_order: ['p1', 'p2', 'p3', 'p4'],
    preferred_provider: 'p1',
    manual_override: null,
    active_provider: 'p1',
    active_reason: 'preferred provider',
    routing,
    providers,
    metrics,
    recent_events: events,
    unseen_events: 2,
    quota: seededQuota(),
    ledgers: seededLedgers(),
    last_activity_unix_ms: NOW - 1000,
    now_unix_ms: NOW,
    ...over,
  };
}

type Kwargs = Record<string, unknown>;

export const METHODS = [
  'get_status', 'list_events', 'mark_events_seen', 'get_config', 'update_routing',
  'set_preferred_provider', 'set_manual_override', 'upsert_provider', 'rename_provider',
  'delete_provider', 'set_provider_order', 'set_provider_key', 'clear_provider_key',
  'set_provider_disabled', 'probe_provider', 'get_gateway_token', 'rotate_gateway_token',
  'get_codex_setup', 'apply_codex_setup', 'restore_codex_backup',
  'get_usage', 'refresh_usage', 'set_usage_token', 'clear_usage_token',
  'get_analytics', 'list_sessions', 'get_session_timeline',
] as const;

export class FakeBackend {
  state: Status;
  token = 'ao_first_token_1234';
  calls: { method: string; args: Kwargs }[] = [];
  codex: CodexSetup = {
    codex_home: '/home/u/.codex',
    config_path: '/home/u/.codex/config.toml',
    auth_path: '/home/u/.codex/auth.json',
    config_block: 'model_provider = "api_router"\n\n[model_providers.api_router]\nname = "API Router"\n',
    auth_json: '{\n  "OPENAI_API_KEY": "ao_first_token_1234"\n}\n',
    configured: false,
    has_backup: false,
  };
  /** Make the next call to `method` fail with this error. */
  failNext: Record<string, FakeError> = {};
  /** Providers with a usage token set. */
  usageTokens = new Set<string>();
  /** The request log behind get_analytics, list_sessions and get_session_timeline. */
  requests: FakeRequest[] = seededRequests();
  /** refresh_usage: these providers' checks fail with this message (the last snapshot stays). */
  usageFailures: Record<string, string> = {};
  /** The clock refresh_usage stamps new readings with. */
  now = NOW;

  constructor(status: Status = makeStatus()) {
    this.state = status;
  }

  private clone<T>(v: T): T {
    return JSON.parse(JSON.stringify(v)) as T;
  }

  private need(id: unknown): string {
    if (typeof id !== 'string' || !this.state.providers[id]) throw new FakeError(`unknown provider: ${String(id)}`);
    return id;
  }

  config(): Config {
    const s = this.state;
    const providers: Config['providers'] = {};
    for (const [id, p] of Object.entries(s.providers)) {
      providers[id] = {
        display_name: p.display_name,
        base_url: p.base_url,
        usage_adapter: p.usage_adapter,
        usage_base_url: p.usage_base_url,
        disabled: p.disabled,
        has_key: p.has_key,
        key_preview: p.key_preview,
        has_usage_token: this.usageTokens.has(id),
      };
    }
    return this.clone({
      listen: { ...s.listen, max_body_mb: 256, allow_remote: false },
      routing: s.routing,
      provider_order: s.provider_order,
      providers,
      ui: { start_hidden: true },
      paths: { user_data: '/u', config: '/u/config.toml', codex_home: '/home/u/.codex' },
    });
  }

  handle(method: string, args: Kwargs = {}): unknown {
    this.calls.push({ method, args });
    const fail = this.failNext[method];
    if (fail) {
      delete this.failNext[method];
      throw fail;
    }
    const s = this.state;
    switch (method) {
      case 'get_status':
        return this.clone(s);
      case 'list_events':
        return { events: this.clone(s.recent_events) };
      case 'mark_events_seen': {
        s.recent_events = s.recent_events.map((e) => ({ ...e, seen: true }));
        s.unseen_events = 0;
        return { seen_up_to: Math.max(0, ...s.recent_events.map((e) => e.id)) };
      }
      case 'get_config':
        return this.config();
      case 'update_routing': {
        for (const [k, v] of Object.entries(args)) {
          if (!(k in s.routing)) throw new FakeError(`unknown routing key: ${k}`);
          (s.routing as unknown as Kwargs)[k] = v;
        }
        s.routing = { ...s.routing };
        return this.config();
      }
      case 'set_preferred_provider':
        s.preferred_provider = this.need(args.provider);
        s.routing = { ...s.routing, preferred_provider: s.preferred_provider };
        return this.clone(s);
      case 'set_manual_override':
        s.manual_override = args.provider === null ? null : this.need(args.provider);
        return this.clone(s);
      case 'upsert_provider': {
        const id = String(args.provider);
        if (!ID_RE.test(id)) throw new FakeError('bad provider id');
        const existing = s.providers[id];
        if (!existing && !args.base_url) throw new FakeError('base_url is required for a new provider');
        const p = existing ? { ...existing } : makeProvider({ display_name: id, has_key: false, key_preview: '', status: 'unknown' });
        if (typeof args.display_name === 'string') p.display_name = args.display_name;
        if (typeof args.base_url === 'string') p.base_url = args.base_url;
        if (typeof args.disabled === 'boolean') p.disabled = args.disabled;
        if (typeof args.usage_adapter === 'string') p.usage_adapter = args.usage_adapter;
        if (typeof args.usage_base_url === 'string') p.usage_base_url = args.usage_base_url.trim();
        s.providers = { ...s.providers, [id]: p };
        const usageChanged =
          existing &&
          (p.base_url !== existing.base_url ||
            p.usage_adapter !== existing.usage_adapter ||
            p.usage_base_url !== existing.usage_base_url);
        if (usageChanged) this.invalidateUsage(id);
        if (!existing) s.provider_order = [...s.provider_order, id];
        return this.config();
      }
      case 'rename_provider': {
        const id = this.need(args.provider);
        const to = String(args.new_id);
        if (s.providers[to]) throw new FakeError(`provider ${to} already exists`);
        const { [id]: p, ...rest } = s.providers;
        s.providers = { ...rest, [to]: p };
        s.provider_order = s.provider_order.map((x) => (x === id ? to : x));
        s.quota = renameKey(s.quota, id, to);
        s.ledgers = renameKey(s.ledgers, id, to);
        if (this.usageTokens.delete(id)) this.usageTokens.add(to);
        return this.config();
      }
      case 'delete_provider': {
        const id = this.need(args.provider);
        const { [id]: _gone, ...rest } = s.providers;
        s.providers = rest;
        s.provider_order = s.provider_order.filter((x) => x !== id);
        this.invalidateUsage(id);
        const { [id]: _ledger, ...ledgers } = s.ledgers;
        s.ledgers = ledgers;
        this.usageTokens.delete(id);
        return this.config();
      }
      case 'set_provider_order': {
        const order = args.order as string[];
        const a = [...order].sort().join();
        const b = [...s.provider_order].sort().join();
        if (a !== b) throw new FakeError('order must be a permutation of the existing ids');
        s.provider_order = [...order];
        return this.config();
      }
      case 'set_provider_key': {
        const id = this.need(args.provider);
        const key = String(args.key ?? '');
        if (!key) throw new FakeError('key must not be empty');
        s.providers = { ...s.providers, [id]: { ...s.providers[id], has_key: true, key_preview: `${key.slice(0, 4)}…${key.slice(-4)}` } };
        this.invalidateUsage(id);
        return this.config();
      }
      case 'clear_provider_key': {
        const id = this.need(args.provider);
        s.providers = { ...s.providers, [id]: { ...s.providers[id], has_key: false, key_preview: '' } };
        this.invalidateUsage(id);
        return this.config();
      }
      case 'set_provider_disabled': {
        const id = this.need(args.provider);
        const disabled = Boolean(args.disabled);
        s.providers = {
          ...s.providers,
          [id]: { ...s.providers[id], disabled, status: disabled ? 'disabled' : 'unknown' },
        };
        return this.config();
      }
      case 'probe_provider':
        this.need(args.provider);
        return { ok: true, status: 200, latency_ms: 123.4, models: ['gpt-5', 'gpt-5-mini'], error: '' };
      case 'get_gateway_token':
        return { token: this.token };
      case 'rotate_gateway_token':
        this.token = 'ao_second_token_5678';
        return { token: this.token };
      case 'get_codex_setup':
        return this.clone(this.codex);
      case 'apply_codex_setup':
        this.codex = { ...this.codex, configured: true, has_backup: true };
        return this.clone(this.codex);
      case 'restore_codex_backup':
        this.codex = { ...this.codex, configured: false };
        return this.clone(this.codex);
      case 'get_usage':
        return this.clone({ quota: s.quota, ledgers: s.ledgers });
      case 'refresh_usage': {
        const only = args.provider === undefined || args.provider === null ? null : this.need(args.provider);
        for (const id of s.provider_order) {
          if (only !== null && id !== only) continue;
          if (this.checkable(id)) this.checkUsage(id);
        }
        return this.clone({ quota: s.quota, ledgers: s.ledgers });
      }
      case 'set_usage_token': {
        const id = this.need(args.provider);
        const token = String(args.token ?? '').trim();
        if (!token) throw new FakeError('token must not be empty');
        if (/\s/.test(token)) throw new FakeError('token must not contain spaces or line breaks');
        this.usageTokens.add(id);
        this.invalidateUsage(id);
        return this.config();
      }
      case 'clear_usage_token': {
        const id = this.need(args.provider);
        this.usageTokens.delete(id);
        this.invalidateUsage(id);
        return this.config();
      }
      case 'get_analytics': {
        const window = (args.window ?? 'day') as AnalyticsWindow;
        if (!['hour', 'day', 'month'].includes(window)) throw new FakeError('window must be one of: hour, day, month');
        return summary(this.requests, window, NOW);
      }
      case 'list_sessions': {
        const limit = args.limit === undefined ? 50 : Number(args.limit);
        return { sessions: sessions(this.requests, limit) };
      }
      case 'get_session_timeline':
        return timeline(this.requests, String(args.session_id ?? ''));
      default:
        throw new FakeError(`unknown method: ${method}`, 404, 'not_found');
    }
  }

  /** Usage is checked for enabled providers with a base URL and an API key or usage token. */
  private checkable(id: string): boolean {
    const p = this.state.providers[id];
    return !!p && !p.disabled && !!p.base_url && (p.has_key || this.usageTokens.has(id));
  }

  private checkUsage(id: string): void {
    const s = this.state;
    const previous = s.quota[id];
    const failure = this.usageFailures[id];
    if (failure) {
      s.quota = { ...s.quota, [id]: { ...(previous ?? makeQuotaEntry()), error: failure, error_at_unix_ms: this.now } };
      return;
    }
    const snapshot = previous?.snapshot
      ? { ...previous.snapshot, fetched_at_unix_ms: this.now }
      : makeSnapshot({ base_url: s.providers[id].base_url.replace(/\/v1\/?$/, ''), remaining: 5, fetched_at_unix_ms: this.now });
    s.quota = {
      ...s.quota,
      [id]: makeQuotaEntry({ snapshot, skipped: snapshot.exhausted, adapter_hint: snapshot.adapter }),
    };
    s.ledgers = { ...s.ledgers, [id]: { tokens_since_check: 0, since_unix_ms: this.now } };
  }

  private invalidateUsage(id: string): void {
    const { [id]: _gone, ...rest } = this.state.quota;
    this.state.quota = rest;
  }

  /** A fake `window.pywebview.api`: every contract method, rejecting with Error(message). */
  pywebviewApi(): Record<string, (kwargs?: unknown) => Promise<unknown>> {
    const api: Record<string, (kwargs?: unknown) => Promise<unknown>> = {};
    for (const method of METHODS) {
      api[method] = async (kwargs?: unknown) => {
        try {
          return this.handle(method, (kwargs ?? {}) as Kwargs);
        } catch (e) {
          // pywebview rejects with a plain Error carrying only the message.
          throw new Error((e as Error).message, { cause: e });
        }
      };
    }
    return api;
  }

  /** A fake fetch for POST /api/<method> with Bearer auth. */
  fetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const url = String(input);
    const method = url.replace(/^.*\/api\//, '');
    const auth = new Headers(init?.headers).get('Authorization');
    if (auth !== `Bearer ${this.token}`) {
      this.calls.push({ method: `401:${method}`, args: {} });
      return json(401, { error: { message: 'invalid gateway token', type: 'unauthorized' } });
    }
    try {
      const args = init?.body ? (JSON.parse(String(init.body)) as Kwargs) : {};
      return json(200, this.handle(method, args));
    } catch (e) {
      const err = e instanceof FakeError ? e : new FakeError((e as Error).message, 500, 'server_error');
      return json(err.status, { error: { message: err.message, type: err.type } });
    }
  };

  methods(): string[] {
    return this.calls.map((c) => c.method);
  }
}

function renameKey<T>(map: Record<string, T>, from: string, to: string): Record<string, T> {
  return Object.fromEntries(Object.entries(map).map(([k, v]) => [k === from ? to : k, v]));
}

export function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
}
