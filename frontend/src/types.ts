// Typed mirror of docs/control-api.md. Keep in step with the contract; nothing here is invented.

export type ProviderId = string;
export type UnixMs = number;

/** `unresponsive`: did not answer in time; out of rotation until a background check gets an answer. */
export type HealthStatus = 'unknown' | 'healthy' | 'unhealthy' | 'cooldown' | 'unresponsive' | 'disabled';
export type EventLevel = 'info' | 'warning' | 'error';

export interface RoutingConfig {
  /** `""` = first in list (the effective one is `Status.preferred_provider`). */
  preferred_provider: ProviderId | '';
  auto_return_to_preferred: boolean;
  preferred_stable_seconds: number;
  failure_threshold: number;
  cooldown_seconds: number;
  request_timeout_seconds: number;
  stream_idle_timeout_seconds: number;
  /** Start a second provider for a stream that has not answered after the hedge delay. */
  hedge: boolean;
  hedge_min_seconds: number;
  hedge_max_seconds: number;
  /** Background checks of providers out of rotation, at least this often while in use. */
  check_interval_seconds: number;
  /** A session idle this long goes back to the preferred provider. */
  session_idle_return_seconds: number;
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
  /** The HTTP status `last_error` came with, when it had one. */
  last_status: number | null;
  last_ok_at_unix_ms: UnixMs | null;
  last_fail_at_unix_ms: UnixMs | null;
  /** Current hedge delay for streams (see `routing.hedge`). */
  hedge_delay_ms: number;
  /** null when the usage reading gives no percentage. */
  quota_left_percent: number | null;
  /** Requested model → model this provider uses; `"*"` for any other model. */
  model_map: ModelMap;
  last_test: ProviderTest | null;
}

/** `{requested model: model this provider uses}`, `"*"` for any other model. */
export type ModelMap = Record<string, string>;

export type SummaryState = 'serving' | 'fallback' | 'down' | 'no_providers';

/** One line that says how the gateway serves right now. */
export interface StatusSummary {
  state: SummaryState;
  /** "Relay A · serving", "failover to Relay B", "all providers down", "no provider configured". */
  line: string;
  /** Who serves now (null when down / no providers). */
  provider: ProviderId | null;
  /** Why not the preferred one, or why down (display names, keys masked). */
  reason: string;
  /** What to do (shown in the "all providers down" banner). */
  advice: string;
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
  /** Where each id renamed since the gateway started went in the end (old → configured id). */
  renamed: Record<ProviderId, ProviderId>;
  /** The preferred provider in effect ("first in list" resolved); null while no provider can serve. */
  preferred_provider: ProviderId | null;
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
  summary: StatusSummary;
  /** Client requests since local midnight. */
  requests_today: number;
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

export interface UiSettings {
  /** Desktop: start in the tray. */
  start_hidden: boolean;
  /** Start with the system (the OS login item). */
  autostart: boolean;
  notify_failover: boolean;
  notify_all_down: boolean;
  notify_recovery: boolean;
  notify_quota: boolean;
  notify_provider_back: boolean;
  /** notify_quota fires when a provider's quota left falls below this percentage. */
  notify_quota_percent: number;
}

export interface RequestLogSettings {
  /** 1–3650 */
  retention_days: number;
  /** 1000–10,000,000 */
  max_rows: number;
}

export interface AutostartInfo {
  supported: boolean;
  installed: boolean;
  /** Where the login item lives (registry key, .desktop file, LaunchAgent). */
  location: string;
}

export interface Config {
  listen: { host: string; port: number; max_body_mb: number; allow_remote: boolean };
  routing: RoutingConfig;
  provider_order: ProviderId[];
  providers: Record<ProviderId, ProviderConfig>;
  ui: UiSettings;
  request_log: RequestLogSettings;
  autostart: AutostartInfo;
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

/** token_out_of_date: the provider block points here but auth.json holds another token. */
export type CodexState = 'connected' | 'token_out_of_date' | 'not_connected';

export interface CodexSetup {
  codex_home: string;
  config_path: string;
  auth_path: string;
  config_block: string;
  auth_json: string;
  configured: boolean;
  has_backup: boolean;
  state: CodexState;
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
  /** `{}` clears it. */
  model_map?: ModelMap | null;
  /** Only add: an id that exists (another window added it meanwhile) is refused, not changed. */
  create?: boolean;
}

// ---------------------------------------------------------------- usage and quota

/** `""` = detect automatically. */
export type UsageAdapter = '' | 'token_stats' | 'budget_info' | 'new_api' | 'openai_billing';

/** What `remaining`, `today_*` and granted/used/available are counted in (budgets: `budget_unit`). */
export type UsageUnit = 'USD' | 'EUR' | 'GBP' | 'CNY' | 'quota' | '';

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
  /** The currency of the `*_spent_usd`/`*_budget_usd` fields (named so for history); USD when absent. */
  budget_unit?: UsageUnit;
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
  /** The provider the session is bound to now, else the last that served it; null when none did. */
  provider: ProviderId | null;
  /** Whether `provider` is the one the session is bound to (its next request goes there). */
  bound: boolean;
}

/** How an attempt ended (see ChainOutcome). */
export type AttemptOutcome = ChainOutcome;

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
  /** As the client asked. */
  model: string | null;
  /** As sent to the serving provider (model_map), else = model. */
  sent_model: string | null;
  hedged: boolean;
}

export interface SessionTimeline {
  session_id: string;
  /** The provider the session is bound to (where its next request goes while it is in use), else the
   * last that served it. */
  provider?: ProviderId | null;
  /** Whether `provider` is the one the session is bound to. */
  bound?: boolean;
  /** Oldest first: the session's newest requests (up to 1,000). */
  requests: TimelineEntry[];
  /** How many requests the session made in all (more than `requests` holds for a longer one). */
  total?: number;
}

// ---------------------------------------------------------------- request log

/** Per request: `ok` | `error` | `client_error` | `client_closed`. */
export type RequestOutcome = 'ok' | 'error' | 'client_error' | 'client_closed';
/** The `outcome` filter also takes `failover` (served after another provider failed). */
export type RequestOutcomeFilter = RequestOutcome | 'failover';

export interface RequestRow {
  id: number;
  request_id: string;
  unix_ms: UnixMs;
  path: string;
  /** null for requests without one. */
  session_id: string | null;
  /** Who served it (null: nobody). */
  provider: ProviderId | null;
  /** As the client asked. */
  model: string | null;
  /** As sent to the serving provider (model_map), else = model. */
  sent_model: string | null;
  stream: boolean;
  status: number | null;
  outcome: RequestOutcome;
  latency_ms: number | null;
  ttfb_ms: number | null;
  input_tokens: number;
  output_tokens: number;
  cached_tokens: number;
  reasoning_tokens: number;
  total_tokens: number;
  /** Providers tried. */
  attempts: number;
  hedged: boolean;
  /** Served after another provider failed (what the "Failed over" filter finds). */
  failover: boolean;
  error: string | null;
  request_bytes: number | null;
  response_bytes: number | null;
  /** Every provider asked, in order (served or not). */
  providers_tried: ProviderId[];
}

export interface RequestFilters {
  provider?: ProviderId | null;
  outcome?: RequestOutcomeFilter | null;
  session_id?: string | null;
  /** Case-insensitive substring of the error, model, session id or request id. */
  text?: string | null;
}

/** At most one of `before_id`, `after_id` and `oldest`: which page (none: the newest). */
export interface ListRequestsArgs extends RequestFilters {
  limit?: number;
  /** The rows listed after this one (older). */
  before_id?: number | null;
  /** The `limit` rows listed just before this one (newer). */
  after_id?: number | null;
  /** The oldest rows. */
  oldest?: boolean;
}

export interface RequestPage {
  /** Newest first. */
  requests: RequestRow[];
  /** null when this page reaches the oldest row. */
  next_before_id: number | null;
  /** Rows matching the filters. */
  total: number;
  /** Rows matching the filters listed above this page (0: the newest page). */
  newer: number;
}

/**
 * `ok` | `provider_failure` | `client_error` | `retry` (a continuity retry on the same provider
 * follows) | `client_closed` | `aborted` (gateway shut down) | `hedge_lost` (the other side of a
 * hedge answered first; cancelled).
 */
export type ChainOutcome =
  | 'ok'
  | 'provider_failure'
  | 'client_error'
  | 'retry'
  | 'client_closed'
  | 'aborted'
  | 'hedge_lost';

/** Which continuity retry follows an attempt with outcome `retry`. */
export type RetryKind = 'rebuild' | 'strip_sealed' | 'expand_compaction' | 'summarize_compaction' | 'shorter_summary';

export interface ChainAttempt {
  provider: ProviderId;
  outcome: ChainOutcome;
  status: number | null;
  latency_ms: number | null;
  ttfb_ms: number | null;
  error: string | null;
  /** Started by the hedge timer. */
  hedge: boolean;
  retry: RetryKind | null;
  sent_model: string | null;
  /** A summary of a conversation compacted by another provider, asked for on the way to the answer. */
  summary: boolean;
}

export interface RequestDetail extends RequestRow {
  attempt_chain: ChainAttempt[];
}

export type ExportFormat = 'csv' | 'jsonl';

export interface ExportRequestsArgs extends RequestFilters {
  format: ExportFormat;
}

/** Where an export went (the file name in a browser, the full path on desktop; null: cancelled) and its rows. */
export interface SavedExport {
  saved: string | null;
  rows: number;
}

export interface RequestExport {
  filename: string;
  content_type: string;
  content: string;
  rows: number;
}

// ---------------------------------------------------------------- provider tests

export interface ProviderTestStep {
  /** `stream`, `tool`, `models`. */
  name: string;
  /** null: not run (the tool call, when the streamed request got no answer in time). */
  ok: boolean | null;
  status: number | null;
  latency_ms: number | null;
  error: string;
}

/** A streamed POST /responses, one with a function tool, and GET /models, with the provider's key. */
export interface ProviderTest {
  provider: ProviderId;
  unix_ms: UnixMs;
  ok: boolean;
  /** Model used for the calls. */
  model: string;
  latency_ms: number | null;
  first_event_ms: number | null;
  /** Answered the stream with SSE events through response.completed. */
  streaming: boolean;
  /** Produced a function_call for the tool request (null: not judged). */
  tool_calls: boolean | null;
  models: string[];
  steps: ProviderTestStep[];
  error: string;
}

export interface Diagnostics {
  tasks: number;
  threads: number;
  open_fds: number | null;
  rss_bytes: number | null;
  inflight_requests: number;
  open_upstream_responses: number;
}

type NoArgs = Record<string, never>;

/** Every control method: its keyword arguments and its result. */
export interface ControlMethods {
  get_status: { args: NoArgs; result: Status };
  get_diagnostics: { args: NoArgs; result: Diagnostics };
  list_events: { args: ListEventsArgs; result: { events: GatewayEvent[] } };
  mark_events_seen: { args: NoArgs; result: { seen_up_to: number } };
  get_config: { args: NoArgs; result: Config };
  update_routing: { args: RoutingUpdate; result: Config };
  update_ui: { args: Partial<UiSettings>; result: Config };
  update_request_log: { args: Partial<RequestLogSettings>; result: Config };
  /** `""` or null: first in list. */
  set_preferred_provider: { args: { provider: ProviderId | null }; result: Status };
  set_manual_override: { args: { provider: ProviderId | null }; result: Status };
  upsert_provider: { args: UpsertProviderArgs; result: Config };
  rename_provider: { args: { provider: ProviderId; new_id: ProviderId }; result: Config };
  delete_provider: { args: { provider: ProviderId }; result: Config };
  set_provider_order: { args: { order: ProviderId[] }; result: Config };
  set_provider_key: { args: { provider: ProviderId; key: string }; result: Config };
  clear_provider_key: { args: { provider: ProviderId }; result: Config };
  set_provider_disabled: { args: { provider: ProviderId; disabled: boolean }; result: Config };
  probe_provider: { args: { provider: ProviderId }; result: Probe };
  test_provider: { args: { provider: ProviderId }; result: ProviderTest };
  test_all_providers: { args: NoArgs; result: { results: Record<ProviderId, ProviderTest> } };
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
  list_requests: { args: ListRequestsArgs; result: RequestPage };
  get_request: { args: { id: number }; result: RequestDetail };
  export_requests: { args: ExportRequestsArgs; result: RequestExport };
}

export type MethodName = keyof ControlMethods;
export type ArgsOf<M extends MethodName> = ControlMethods[M]['args'];
export type ResultOf<M extends MethodName> = ControlMethods[M]['result'];

