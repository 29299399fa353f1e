// Typed mirror of docs/control-api.md. Keep in step with the contract; nothing here is invented.

export type ProviderId = string;
export type UnixMs = number;

export type HealthStatus = 'unknown' | 'healthy' | 'unhealthy' | 'cooldown' | 'disabled';
export type EventLevel = 'info' | 'warning' | 'error';

export interface RoutingConfig {
  preferred_provider: ProviderId;
  auto_return_to_preferred: boolean;
  preferred_stable_seconds: number;
  failure_threshold: number;
  cooldown_seconds: number;
  request_timeout_seconds: number;
  stream_idle_timeout_seconds: number;
}

export type RoutingUpdate = Partial<RoutingConfig>;

export interface ProviderStatus {
  display_name: string;
  base_url: string;
  disabled: boolean;
  has_key: boolean;
  key_preview: string;
  usage_adapter: string;
  usage_base_url: string;
  status: HealthStatus;
  consecutive_failures: number;
  cooldown_until_unix_ms: UnixMs | null;
  last_error: string;
  last_ok_at_unix_ms: UnixMs | null;
  last_fail_at_unix_ms: UnixMs | null;
}

export interface ProviderMetrics {
  ok_requests: number;
  error_requests: number;
  total_tokens: number;
}

export interface GatewayEvent {
  id: number;
  unix_ms: UnixMs;
  level: EventLevel;
  provider: ProviderId | null;
  kind: string;
  message: string;
  seen: boolean;
}

export interface Status {
  version: string;
  listen: { host: string; port: number };
  gateway_url: string;
  provider_order: ProviderId[];
  preferred_provider: ProviderId;
  manual_override: ProviderId | null;
  active_provider: ProviderId | null;
  active_reason: string;
  routing: RoutingConfig;
  providers: Record<ProviderId, ProviderStatus>;
  metrics: Record<ProviderId, ProviderMetrics>;
  recent_events: GatewayEvent[];
  unseen_events: number;
  /** Providers with a usage reading (or a failed check) only. */
  quota: Record<ProviderId, QuotaEntry>;
  /** Providers that served tokens or had a successful check only. */
  ledgers: Record<ProviderId, Ledger>;
  last_activity_unix_ms: UnixMs | null;
  now_unix_ms: UnixMs;
}

export interface ProviderConfig {
  display_name: string;
  base_url: string;
  usage_adapter: string;
  usage_base_url: string;
  disabled: boolean;
  has_key: boolean;
  key_preview: string;
  has_usage_token: boolean;
}

export interface Config {
  listen: { host: string; port: number; max_body_mb: number; allow_remote: boolean };
  routing: RoutingConfig;
  provider_order: ProviderId[];
  providers: Record<ProviderId, ProviderConfig>;
  ui: { start_hidden: boolean };
  paths: { user_data: string; config: string; codex_home: string };
}

export interface Probe {
  ok: boolean;
  status: number | null;
  latency_ms: number;
  models: string[];
  error: string;
}

export interface TokenResult {
  token: string;
}

export interface CodexSetup {
  codex_home: string;
  config_path: string;
  auth_path: string;
  config_block: string;
  auth_json: string;
  configured: boolean;
  has_backup: boolean;
}

export interface ListEventsArgs {
  level?: EventLevel | null;
  provider?: ProviderId | null;
  limit?: number;
  before_id?: number | null;
}

export interface UpsertProviderArgs {
  provider: ProviderId;
  display_name?: string | null;
  base_url?: string | null;
  usage_adapter?: UsageAdapter | null;
  usage_base_url?: string | null;
  disabled?: boolean | null;
}

// ---------------------------------------------------------------- usage and quota

/** `""` = detect automatically. */
export type UsageAdapter = '' | 'token_stats' | 'budget_info' | 'new_api' | 'openai_billing';

/** What `remaining`, `today_*` and granted/used/available are counted in; budgets are always USD. */
export type UsageUnit = 'USD' | 'quota' | 'CNY' | '';

/** One successful usage reading (`UsageSnapshot.to_json`). Quantities are null when not reported. */
export interface UsageSnapshot {
  adapter: string;
  /** The usage base that answered. */
  base_url: string;
  fetched_at_unix_ms: UnixMs;
  /** The adapter was found by detection, not configured. */
  detected: boolean;
  remaining: number | null;
  unlimited: boolean;
  today_used: number | null;
  today_added: number | null;
  daily_spent_usd: number | null;
  daily_budget_usd: number | null;
  weekly_spent_usd: number | null;
  weekly_budget_usd: number | null;
  monthly_spent_usd: number | null;
  monthly_budget_usd: number | null;
  granted: number | null;
  used: number | null;
  available: number | null;
  expires_at_unix_ms: UnixMs | null;
  unit: UsageUnit;
  /** Fields the upstream wrote as percentages ("85%" → 85). */
  percent_fields: string[];
  notes: string[];
  exhausted: boolean;
  exhausted_reason: string | null;
}

/** Per provider: the last good snapshot and the latest error (a failed check keeps the snapshot). */
export interface QuotaEntry {
  snapshot: UsageSnapshot | null;
  error: string | null;
  error_at_unix_ms: UnixMs | null;
  /** Out of quota: automatic routing skips it. */
  skipped: boolean;
  /** The adapter tried first on the next check. */
  adapter_hint: string | null;
}

/** Tokens served since the last successful usage check (`since_unix_ms` null: never checked). */
export interface Ledger {
  tokens_since_check: number;
  since_unix_ms: UnixMs | null;
}

export interface UsageState {
  quota: Record<ProviderId, QuotaEntry>;
  ledgers: Record<ProviderId, Ledger>;
}

// ---------------------------------------------------------------- analytics

export type AnalyticsWindow = 'hour' | 'day' | 'month';

export interface Percentiles {
  p50: number | null;
  p90: number | null;
  p99: number | null;
}

export interface TrafficStats {
  requests: number;
  errors: number;
  input_tokens: number;
  output_tokens: number;
  cached_tokens: number;
  reasoning_tokens: number;
  total_tokens: number;
  latency_ms: Percentiles;
  ttfb_ms: Percentiles;
}

export interface SeriesCounts {
  requests: number;
  errors: number;
  tokens: number;
}

export interface SeriesPoint {
  /** Start of the bucket. */
  t_unix_ms: UnixMs;
  /** Only providers with traffic in this bucket. */
  providers: Record<ProviderId, SeriesCounts>;
}

export interface Analytics {
  window: AnalyticsWindow;
  since_unix_ms: UnixMs;
  now_unix_ms: UnixMs;
  bucket_ms: number;
  overall: TrafficStats;
  providers: Record<ProviderId, TrafficStats>;
  series: SeriesPoint[];
}

export interface SessionSummary {
  session_id: string;
  requests: number;
  first_unix_ms: UnixMs;
  last_unix_ms: UnixMs;
  providers: ProviderId[];
  /** Requests that tried more than one provider. */
  failovers: number;
  total_tokens: number;
}

/** `ok`, `provider_failure`, `retry`, `client_error`, `client_closed`, `aborted`. */
export type AttemptOutcome = string;

export interface Attempt {
  provider: ProviderId;
  outcome: AttemptOutcome;
  status: number | null;
  latency_ms: number;
  error: string | null;
}

export interface TimelineEntry {
  id: number;
  unix_ms: UnixMs;
  /** Who served it; null when every attempt failed. */
  provider: ProviderId | null;
  status: number;
  latency_ms: number;
  ttfb_ms: number | null;
  total_tokens: number;
  error: string | null;
  attempts: Attempt[];
  /** Served after another provider failed. */
  failover: boolean;
  /** Served by a different provider than the previous turn. */
  switched: boolean;
}

export interface SessionTimeline {
  session_id: string;
  /** Oldest first. */
  requests: TimelineEntry[];
}

type NoArgs = Record<string, never>;

/** Every control method: its keyword arguments and its result. */
export interface ControlMethods {
  get_status: { args: NoArgs; result: Status };
  list_events: { args: ListEventsArgs; result: { events: GatewayEvent[] } };
  mark_events_seen: { args: NoArgs; result: { seen_up_to: number } };
  get_config: { args: NoArgs; result: Config };
  update_routing: { args: RoutingUpdate; result: Config };
  set_preferred_provider: { args: { provider: ProviderId }; result: Status };
  set_manual_override: { args: { provider: ProviderId | null }; result: Status };
  upsert_provider: { args: UpsertProviderArgs; result: Config };
  rename_provider: { args: { provider: ProviderId; new_id: ProviderId }; result: Config };
  delete_provider: { args: { provider: ProviderId }; result: Config };
  set_provider_order: { args: { order: ProviderId[] }; result: Config };
  set_provider_key: { args: { provider: ProviderId; key: string }; result: Config };
  clear_provider_key: { args: { provider: ProviderId }; result: Config };
  set_provider_disabled: { args: { provider: ProviderId; disabled: boolean }; result: Config };
  probe_provider: { args: { provider: ProviderId }; result: Probe };
  get_gateway_token: { args: NoArgs; result: TokenResult };
  rotate_gateway_token: { args: NoArgs; result: TokenResult };
  get_codex_setup: { args: NoArgs; result: CodexSetup };
  apply_codex_setup: { args: NoArgs; result: CodexSetup };
  restore_codex_backup: { args: NoArgs; result: CodexSetup };
  get_usage: { args: NoArgs; result: UsageState };
  refresh_usage: { args: { provider?: ProviderId | null }; result: UsageState };
  set_usage_token: { args: { provider: ProviderId; token: string }; result: Config };
  clear_usage_token: { args: { provider: ProviderId }; result: Config };
  get_analytics: { args: { window?: AnalyticsWindow }; result: Analytics };
  list_sessions: { args: { limit?: number }; result: { sessions: SessionSummary[] } };
  get_session_timeline: { args: { session_id: string }; result: SessionTimeline };
}

export type MethodName = keyof ControlMethods;
export type ArgsOf<M extends MethodName> = ControlMethods[M]['args'];
export type ResultOf<M extends MethodName> = ControlMethods[M]['result'];

/** Error `type` values the HTTP transport may report. */
export type BackendErrorType =
  | 'invalid_request_error'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'gateway_error';
