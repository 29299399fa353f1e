// An in-memory stand-in for api_router.control.Control, following docs/control-api.md, exposed
// both as a fake `window.pywebview.api` and as a fake `fetch` for POST /api/<method> (and the export download).

import type {
  AnalyticsWindow,
  CodexSetup,
  Config,
  GatewayEvent,
  ProviderMetrics,
  ProviderStatus,
  ProviderTest,
  RequestExport,
  RequestLogSettings,
  RoutingConfig,
  Status,
  StatusSummary,
  UiSettings,
} from '../src/types';
import { TOKEN_STORAGE_KEY, createHttpBridge, sessionTokenStore } from '../src/bridge';
import {
  NOW,
  makeQuotaEntry,
  makeSnapshot,
  matchRequests,
  requestDetail,
  requestRow,
  seededLedgers,
  seededQuota,
  seededRequests,
  sessions,
  summary,
  timeline,
  type FakeRequest,
} from './fakeUsage';

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

/** As the backend's dicts: "constructor" or "toString" is a key only when it was put there. */
const has = (o: object, key: string) => Object.prototype.hasOwnProperty.call(o, key);
const ownValue = <V>(o: Record<string, V>, key: string): V | undefined => (has(o, key) ? o[key] : undefined);

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
    last_status: null,
    last_ok_at_unix_ms: NOW - 5000,
    last_fail_at_unix_ms: null,
    hedge_delay_ms: 10_000,
    quota_left_percent: null,
    model_map: {},
    last_test: null,
    ...over,
  };
}

export function makeTest(over: Partial<ProviderTest> = {}): ProviderTest {
  return {
    provider: 'p1',
    unix_ms: NOW,
    ok: true,
    model: 'gpt-5.5',
    latency_ms: 820,
    first_event_ms: 310,
    streaming: true,
    tool_calls: true,
    models: ['gpt-5.5', 'gpt-5.5-mini', 'o4-mini'],
    steps: [
      { name: 'stream', ok: true, status: 200, latency_ms: 400, error: '' },
      { name: 'tool', ok: true, status: 200, latency_ms: 300, error: '' },
      { name: 'models', ok: true, status: 200, latency_ms: 120, error: '' },
    ],
    error: '',
    ...over,
  };
}

export const DEFAULT_UI: UiSettings = {
  start_hidden: true,
  autostart: false,
  notify_failover: true,
  notify_all_down: true,
  notify_recovery: true,
  notify_quota: true,
  notify_provider_back: true,
  notify_quota_percent: 10,
};

export function makeStatus(over: Partial<Status> = {}): Status {
  const providers: Record<string, ProviderStatus> = {
    p1: makeProvider({ display_name: 'Relay One' }),
    p2: makeProvider({
      display_name: 'Relay Two',
      base_url: 'https://two.example.com/v1',
      model_map: { 'gpt-5.5': 'openai/gpt-5.5' },
    }),
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
    hedge: true,
    hedge_min_seconds: 3,
    hedge_max_seconds: 10,
      check_interval_seconds: 15,
    session_idle_return_seconds: 600,
  };
  return {
    version: '0.1.0',
    listen: { host: '127.0.0.1', port: 4000 },
    gateway_url: 'http://127.0.0.1:4000/v1',
    provider_order: ['p1', 'p2', 'p3', 'p4'],
    renamed: {},
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
    summary: { state: 'serving', line: 'Relay One · serving', provider: 'p1', reason: '', advice: '' },
    requests_today: 42,
    ...over,
  };
}

type Kwargs = Record<string, unknown>;

export const METHODS = [
  'get_status', 'get_diagnostics', 'list_events', 'mark_events_seen', 'get_config', 'update_routing',
  'update_ui', 'update_request_log',
  'set_preferred_provider', 'set_manual_override', 'upsert_provider', 'rename_provider',
  'delete_provider', 'set_provider_order', 'set_provider_key', 'clear_provider_key',
  'set_provider_disabled', 'probe_provider', 'test_provider', 'test_all_providers',
  'get_gateway_token', 'rotate_gateway_token',
  'get_codex_setup', 'apply_codex_setup', 'restore_codex_backup',
  'get_usage', 'refresh_usage', 'set_usage_token', 'clear_usage_token',
  'get_analytics', 'list_sessions', 'get_session_timeline',
  'list_requests', 'get_request', 'export_requests',
] as const;

const ROUTING_NUMBERS = [
  'preferred_stable_seconds', 'failure_threshold', 'cooldown_seconds', 'request_timeout_seconds',
  'stream_idle_timeout_seconds', 'hedge_min_seconds', 'hedge_max_seconds', 'session_idle_return_seconds',
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
    state: 'not_connected',
  };
  /** Connect Codex wrote auth.json with a token that is no longer the gateway's. */
  codexTokenStale = false;
  ui: UiSettings = { ...DEFAULT_UI };
  requestLog: RequestLogSettings = { retention_days: 30, max_rows: 200_000 };
  autostartSupported = true;
  /** save_export (desktop only): the folder the user picks in the save dialog; null = they cancel. */
  saveTo: string | null = '/home/user/Downloads';
  /** What save_export wrote. */
  saved: { filename: string; content: string }[] = [];
  /** test_provider: these providers' tests fail with this error. */
  testFailures: Record<string, string> = {};
  /** Overrides the computed status summary. */
  summaryOverride: StatusSummary | null = null;
  /**
   * Answer `method` only after this many ms (through pywebviewApi and fetch), as the real gateway
   * does: e.g. the status that no longer has a deleted provider arrives a moment after the delete.
   */
  delayMs: Record<string, number> = {};
  /** Make the next call to `method` fail with this error. */
  failNext: Record<string, FakeError> = {};
  /** Providers with a usage token set. */
  usageTokens = new Set<string>();
  /** The request log behind get_analytics, list_sessions and get_session_timeline. */
  requests: FakeRequest[] = seededRequests();
  /** Sessions no longer bound to a provider (list_sessions / get_session_timeline say `bound: false`). */
  releasedSessions = new Set<string>();
  /** refresh_usage: these providers' checks fail with this message (the last snapshot stays). */
  usageFailures: Record<string, string> = {};
  /** The clock refresh_usage stamps new readings with. */
  now = NOW;
  /** The event log beyond the status's `recent_events` (older ones): list_events reads both. */
  olderEvents: GatewayEvent[] = [];

  constructor(status: Status = makeStatus()) {
    this.state = status;
  }

  /** The preferred provider in effect: the explicit one, else the first enabled one in the order. */
  private effectivePreferred(): string {
    const s = this.state;
    const explicit = s.routing.preferred_provider;
    if (explicit && has(s.providers, explicit)) return explicit;
    return s.provider_order.find((id) => has(s.providers, id) && !s.providers[id].disabled) ?? s.provider_order[0] ?? '';
  }

  private summaryNow(): StatusSummary {
    if (this.summaryOverride) return this.summaryOverride;
    const s = this.state;
    const name = (id: string) => ownValue(s.providers, id)?.display_name || id;
    const enabled = s.provider_order.filter((id) => has(s.providers, id) && !s.providers[id].disabled);
    if (enabled.length === 0) {
      return { state: 'no_providers', line: 'no provider configured', provider: null, reason: '', advice: 'Add a provider.' };
    }
    if (s.manual_override) {
      return { state: 'serving', line: `${name(s.manual_override)} · locked`, provider: s.manual_override, reason: 'locked by user', advice: '' };
    }
    const serving = enabled.find((id) => ['healthy', 'unknown'].includes(s.providers[id].status));
    if (!serving) {
      return {
        state: 'down',
        line: 'all providers down',
        provider: null,
        reason: enabled.map((id) => `${name(id)}: ${s.providers[id].status}`).join('; '),
        advice: 'Check the providers’ keys and base URLs, or test them.',
      };
    }
    const preferred = this.effectivePreferred();
    if (serving !== preferred) {
      return { state: 'fallback', line: `failover to ${name(serving)}`, provider: serving, reason: `${name(preferred)} is ${ownValue(s.providers, preferred)?.status}`, advice: '' };
    }
    return { state: 'serving', line: `${name(serving)} · serving`, provider: serving, reason: '', advice: '' };
  }

  private statusNow(): Status {
    const s = this.state;
    s.preferred_provider = this.effectivePreferred();
    return this.clone({ ...s, summary: this.summaryNow() });
  }

  private codexNow(): CodexSetup {
    const state = this.codex.configured ? (this.codexTokenStale ? 'token_out_of_date' : 'connected') : 'not_connected';
    return this.clone({ ...this.codex, state });
  }

  private clone<T>(v: T): T {
    return JSON.parse(JSON.stringify(v)) as T;
  }

  private need(id: unknown): string {
    if (typeof id !== 'string' || !has(this.state.providers, id)) throw new FakeError(`unknown provider: ${String(id)}`);
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
      ui: this.ui,
      request_log: this.requestLog,
      autostart: {
        supported: this.autostartSupported,
        installed: this.ui.autostart,
        location: '/home/u/.config/autostart/api-router.desktop',
      },
      paths: { user_data: '/u', config: '/u/config.toml', codex_home: '/home/u/.codex' },
    });
  }

  handle(method: string, args: Kwargs = {}): unknown {
    this.calls.push({ method, args });
    const fail = ownValue(this.failNext, method);
    if (fail) {
      delete this.failNext[method];
      throw fail;
    }
    const s = this.state;
    switch (method) {
      case 'get_status':
        return this.statusNow();
      case 'get_diagnostics':
        return { tasks: 12, threads: 4, open_fds: 30, rss_bytes: 45_000_000, inflight_requests: 0, open_upstream_responses: 0 };
      case 'list_events': {
        // As the store: level and provider filter exactly, newest (highest id) first, before_id pages back.
        const limit = (args.limit as number | undefined) ?? 200;
        if (!Number.isInteger(limit) || limit < 1 || limit > 5000) throw new FakeError('limit must be an integer from 1 to 5000');
        const before = args.before_id as number | null | undefined;
        const level = args.level as string | null | undefined;
        const provider = args.provider as string | null | undefined;
        const all = [...s.recent_events, ...this.olderEvents].sort((a, b) => b.id - a.id);
        const events = all
          .filter((e) => (level ?? null) === null || e.level === level)
          .filter((e) => (provider ?? null) === null || e.provider === provider)
          .filter((e) => (before ?? null) === null || e.id < (before as number))
          .slice(0, limit);
        return { events: this.clone(events) };
      }
      case 'mark_events_seen': {
        s.recent_events = s.recent_events.map((e) => ({ ...e, seen: true }));
        this.olderEvents = this.olderEvents.map((e) => ({ ...e, seen: true }));
        s.unseen_events = 0;
        return { seen_up_to: Math.max(0, ...s.recent_events.map((e) => e.id), ...this.olderEvents.map((e) => e.id)) };
      }
      case 'get_config':
        return this.config();
      case 'update_routing': {
        if (Object.keys(args).length === 0) throw new FakeError('nothing to update');
        for (const [k, v] of Object.entries(args)) {
          if (!(k in s.routing)) throw new FakeError(`unknown routing setting(s): ${k}`);
          if (k === 'preferred_provider' && v !== '') this.need(v);
          if ((ROUTING_NUMBERS as readonly string[]).includes(k) && (typeof v !== 'number' || v < 0)) {
            throw new FakeError(`${k} must be a number ≥ 0`);
          }
        }
        s.routing = { ...s.routing, ...(args as Partial<RoutingConfig>) };
        return this.config();
      }
      case 'set_preferred_provider': {
        const explicit = args.provider === null || args.provider === '' ? '' : this.need(args.provider);
        s.routing = { ...s.routing, preferred_provider: explicit };
        return this.statusNow();
      }
      case 'set_manual_override':
        s.manual_override = args.provider === null ? null : this.need(args.provider);
        return this.statusNow();
      case 'update_ui': {
        for (const [k, v] of Object.entries(args)) {
          if (!(k in this.ui)) throw new FakeError(`unknown ui setting(s): ${k}`);
          if (k === 'notify_quota_percent' ? typeof v !== 'number' || v < 0 || v > 100 : typeof v !== 'boolean') {
            throw new FakeError(`${k} has a wrong value`);
          }
          if (k === 'autostart' && v === true && !this.autostartSupported) throw new FakeError('autostart is not supported here');
        }
        this.ui = { ...this.ui, ...(args as Partial<UiSettings>) };
        return this.config();
      }
      case 'update_request_log': {
        const days = args.retention_days;
        const rows = args.max_rows;
        // As backend/api_router/config/schema.py: days a number (decimals too), rows an integer.
        if (days !== undefined && (typeof days !== 'number' || !Number.isFinite(days) || days < 1 || days > 3650)) {
          throw new FakeError('retention_days must be a number of days from 1 to 3650');
        }
        if (rows !== undefined && (typeof rows !== 'number' || !Number.isInteger(rows) || rows < 1 || rows > 10_000_000)) {
          throw new FakeError('max_rows must be an integer from 1 to 10000000');
        }
        this.requestLog = { ...this.requestLog, ...(args as Partial<RequestLogSettings>) };
        return this.config();
      }
      case 'upsert_provider': {
        const id = String(args.provider);
        if (!ID_RE.test(id)) throw new FakeError('bad provider id');
        const existing = ownValue(s.providers, id);
        if (existing && args.create === true) throw new FakeError(`a provider named '${id}' already exists`);
        if (!existing && !args.base_url) {
          throw new FakeError(args.create === true ? 'base_url is required for a new provider'
            : `unknown provider '${id}'; to add it, give its base_url`);
        }
        const p = existing ? { ...existing } : makeProvider({ display_name: id, has_key: false, key_preview: '', status: 'unknown' });
        if (!existing) {
          // As the real status: an old id taken by a provider of its own leads nowhere any more.
          s.renamed = Object.fromEntries(Object.entries(s.renamed).filter(([from]) => from !== id));
        }
        if (typeof args.display_name === 'string') p.display_name = args.display_name;
        if (typeof args.base_url === 'string') p.base_url = args.base_url;
        if (typeof args.disabled === 'boolean') p.disabled = args.disabled;
        if (typeof args.usage_adapter === 'string') p.usage_adapter = args.usage_adapter;
        if (typeof args.usage_base_url === 'string') p.usage_base_url = args.usage_base_url.trim();
        if (args.model_map && typeof args.model_map === 'object') p.model_map = { ...(args.model_map as Record<string, string>) };
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
        if (has(s.providers, to)) throw new FakeError(`provider ${to} already exists`);
        const { [id]: p, ...rest } = s.providers;
        s.providers = { ...rest, [to]: p };
        s.provider_order = s.provider_order.map((x) => (x === id ? to : x));
        // As the real status: what led to the old id leads on; an id taken again leads nowhere.
        s.renamed = Object.fromEntries(
          Object.entries({ ...s.renamed, [id]: to }).filter(([from]) => from !== to).map(([from, now]) => [from, now === id ? to : now]),
        );
        s.quota = renameKey(s.quota, id, to);
        s.ledgers = renameKey(s.ledgers, id, to);
        if (this.usageTokens.delete(id)) this.usageTokens.add(to);
        // As the real store does: the request log's past rows follow the provider to its new id.
        const moved = (pid: string | null) => (pid === id ? to : pid);
        // And so do its recent events (the store re-labels them in memory and on disk).
        s.recent_events = s.recent_events.map((e) => ({ ...e, provider: moved(e.provider) }));
        this.olderEvents = this.olderEvents.map((e) => ({ ...e, provider: moved(e.provider) }));
        this.requests = this.requests.map((r) => ({
          ...r,
          provider: moved(r.provider),
          attempts: r.attempts.map((a) => ({ ...a, provider: moved(a.provider) ?? a.provider })),
        }));
        return this.config();
      }
      case 'delete_provider': {
        const id = this.need(args.provider);
        const { [id]: _gone, ...rest } = s.providers;
        s.providers = rest;
        s.provider_order = s.provider_order.filter((x) => x !== id);
        s.renamed = Object.fromEntries(Object.entries(s.renamed).filter(([, now]) => now !== id));
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
      case 'test_provider':
        return this.testProvider(this.need(args.provider));
      case 'test_all_providers': {
        const results: Record<string, ProviderTest> = {};
        for (const id of s.provider_order) if (!s.providers[id].disabled) results[id] = this.testProvider(id);
        return { results };
      }
      case 'get_gateway_token':
        return { token: this.token };
      case 'rotate_gateway_token':
        this.token = 'ao_second_token_5678';
        // Connect Codex had written auth.json: the backend rewrites it with the new token.
        this.codex = { ...this.codex, auth_json: `{\n  "OPENAI_API_KEY": "${this.token}"\n}\n` };
        return { token: this.token };
      case 'get_codex_setup':
        return this.codexNow();
      case 'apply_codex_setup':
        this.codex = { ...this.codex, configured: true, has_backup: true };
        this.codexTokenStale = false;
        return this.codexNow();
      case 'restore_codex_backup':
        // As the backend: the backup is put back and then removed.
        if (!this.codex.has_backup) throw new FakeError('there is no API Router backup in /home/u/.codex/api-router-backup');
        this.codex = { ...this.codex, configured: false, has_backup: false };
        return this.codexNow();
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
        return { sessions: sessions(this.requests, limit, this.releasedSessions) };
      }
      case 'get_session_timeline':
        return timeline(this.requests, String(args.session_id ?? ''), this.releasedSessions);
      case 'list_requests': {
        const limit = args.limit === undefined ? 100 : Number(args.limit);
        if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new FakeError('limit must be an integer from 1 to 1000');
        const all = matchRequests(this.requests, args);
        const cursor = (v: unknown) => (v === undefined || v === null ? null : Number(v));
        const before = cursor(args.before_id);
        const after = cursor(args.after_id);
        const oldest = args.oldest === true;
        if ([before !== null, after !== null, oldest].filter(Boolean).length > 1) {
          throw new FakeError('before_id, after_id and oldest each name a page: give at most one of them');
        }
        // Where the page begins in the newest-first list (ids stand for the listing order here).
        let start = 0;
        if (oldest) start = Math.max(0, all.length - limit);
        else if (after !== null) start = Math.max(0, all.filter((r) => r.id > after).length - limit);
        else if (before !== null) start = all.filter((r) => r.id >= before).length;
        const page = all.slice(start, start + limit);
        const more = all.length > start + page.length;
        return {
          requests: page.map(requestRow),
          next_before_id: more && page.length > 0 ? page[page.length - 1].id : null,
          total: all.length,
          newer: page.length > 0 ? start : all.length,
        };
      }
      case 'get_request': {
        const r = this.requests.find((x) => x.id === args.id);
        if (!r) throw new FakeError(`no request with id ${String(args.id)}`, 400);
        return requestDetail(r);
      }
      case 'export_requests': {
        const format = args.format;
        if (format !== 'csv' && format !== 'jsonl') throw new FakeError('format must be csv or jsonl');
        const rows = matchRequests(this.requests, args).map(requestRow);
        const content =
          format === 'jsonl'
            ? rows.map((r) => JSON.stringify(r)).join('\n') + (rows.length ? '\n' : '')
            : ['id,request_id,provider,status', ...rows.map((r) => `${r.id},${r.request_id},${r.provider ?? ''},${r.status}`)].join('\n') + '\n';
        return {
          filename: `api-router-requests.${format}`,
          content_type: format === 'csv' ? 'text/csv' : 'application/x-ndjson',
          content,
          rows: rows.length,
        };
      }
      default:
        throw new FakeError(`unknown method: ${method}`, 404, 'not_found');
    }
  }

  private testProvider(id: string): ProviderTest {
    const s = this.state;
    const failure = ownValue(this.testFailures, id);
    const result = failure
      ? makeTest({
          provider: id,
          unix_ms: this.now,
          ok: false,
          latency_ms: 200,
          first_event_ms: null,
          streaming: false,
          tool_calls: null,
          models: [],
          steps: [
            { name: 'stream', ok: false, status: 502, latency_ms: 200, error: failure },
            { name: 'tool', ok: null, status: null, latency_ms: null, error: 'not asked: the provider did not answer the streamed request in time' },
            { name: 'models', ok: true, status: 200, latency_ms: 120, error: '' },
          ],
          error: failure,
        })
      : makeTest({ provider: id, unix_ms: this.now });
    const p = s.providers[id];
    // A pass counts as a success for health (clears unhealthy / unresponsive).
    const healed = !failure && (p.status === 'unhealthy' || p.status === 'unresponsive' || p.status === 'unknown');
    s.providers = {
      ...s.providers,
      [id]: { ...p, last_test: result, ...(healed ? { status: 'healthy', consecutive_failures: 0, last_error: '' } : {}) },
    };
    return this.clone(result);
  }

  /** Usage is checked for enabled providers with a base URL and an API key or usage token. */
  private checkable(id: string): boolean {
    const p = ownValue(this.state.providers, id);
    return !!p && !p.disabled && !!p.base_url && (p.has_key || this.usageTokens.has(id));
  }

  private checkUsage(id: string): void {
    const s = this.state;
    const previous = ownValue(s.quota, id);
    const failure = ownValue(this.usageFailures, id);
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
        await this.wait(method);
        try {
          return this.handle(method, (kwargs ?? {}) as Kwargs);
        } catch (e) {
          // pywebview rejects with a plain Error carrying only the message.
          throw new Error((e as Error).message, { cause: e });
        }
      };
    }
    // The request log's export, made and written by the app (desktop/bridge.py).
    api.save_export = async (kwargs?: unknown) => {
      const made = this.handle('export_requests', (kwargs ?? {}) as Kwargs) as RequestExport;
      const fail = this.failNext.save_export;
      if (fail) {
        delete this.failNext.save_export;
        throw new Error(fail.message);
      }
      if (this.saveTo === null) return { saved: null, rows: made.rows };
      this.saved.push({ filename: made.filename, content: made.content });
      return { saved: `${this.saveTo}/${made.filename}`, rows: made.rows };
    };
    return api;
  }

  /** A fake fetch for POST /api/<method> with Bearer auth, and the GET /api/export_requests download. */
  fetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const url = String(input);
    const [method, query] = url.replace(/^.*\/api\//, '').split('?');
    const auth = new Headers(init?.headers).get('Authorization');
    if (auth !== `Bearer ${this.token}`) {
      this.calls.push({ method: `401:${method}`, args: {} });
      return json(401, { error: { message: 'invalid gateway token', type: 'unauthorized' } });
    }
    await this.wait(method);
    if ((init?.method ?? 'GET') === 'GET' && method === 'export_requests') {
      try {
        const made = this.handle(method, Object.fromEntries(new URLSearchParams(query ?? ''))) as RequestExport;
        return new Response(made.content, {
          status: 200,
          headers: { 'Content-Type': made.content_type, 'X-API-Router-Rows': String(made.rows) },
        });
      } catch (e) {
        const err = e instanceof FakeError ? e : new FakeError((e as Error).message, 500, 'server_error');
        return json(err.status, { error: { message: err.message, type: err.type } });
      }
    }
    try {
      const args = init?.body ? (JSON.parse(String(init.body)) as Kwargs) : {};
      return json(200, this.handle(method, args));
    } catch (e) {
      const err = e instanceof FakeError ? e : new FakeError((e as Error).message, 500, 'server_error');
      return json(err.status, { error: { message: err.message, type: err.type } });
    }
  };

  private async wait(method: string): Promise<void> {
    const ms = ownValue(this.delayMs, method);
    if (ms) await new Promise((resolve) => setTimeout(resolve, ms));
  }

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

/**
 * A browser-mode bridge over `backend` with its token remembered, whose network can be cut: while
 * `network.down`, every call fails as a fetch to a gateway that is not running does; while
 * `network.serverError` is set, every call is answered 500 with that message.
 */
export function cuttableBrowserBridge(backend: FakeBackend, callLimitMs?: (method: string) => number) {
  const network: { down: boolean; hung: boolean; serverError: string | null } = {
    down: false,
    hung: false,
    serverError: null,
  };
  const fetch = (input: RequestInfo | URL, init?: RequestInit) => {
    if (network.down) return Promise.reject(new TypeError('Failed to fetch'));
    if (network.hung) {
      // Holds the call open without a word, as a stopped process does; only the caller's abort ends it.
      return new Promise<Response>((_, reject) =>
        init?.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError'))),
      );
    }
    if (network.serverError !== null) {
      const body = JSON.stringify({ error: { message: network.serverError, type: 'internal_error' } });
      return Promise.resolve(new Response(body, { status: 500, headers: { 'Content-Type': 'application/json' } }));
    }
    return backend.fetch(input, init);
  };
  sessionStorage.setItem(TOKEN_STORAGE_KEY, backend.token);
  const bridge = createHttpBridge({ fetch, tokenStore: sessionTokenStore(window.sessionStorage), callLimitMs });
  return { network, bridge };
}
