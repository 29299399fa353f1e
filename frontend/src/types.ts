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
  quota: Record<string, unknown>;
  ledgers: Record<string, unknown>;
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
  usage_adapter?: string | null;
  usage_base_url?: string | null;
  disabled?: boolean | null;
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
