// The Routing card's form: draft values as typed, validation per the update_routing rules, and the
// subset of values that is valid and changed (the only thing ever sent, in one update_routing call
// that includes the preferred provider). Pure.

import type { ProviderId, RoutingConfig, RoutingUpdate } from '../types';
import { followRenames } from './names';
import type { FieldErrors } from './validate';

export type NumericRoutingKey =
  | 'preferred_stable_seconds'
  | 'failure_threshold'
  | 'cooldown_seconds'
  | 'request_timeout_seconds'
  | 'stream_idle_timeout_seconds'
  | 'hedge_min_seconds'
  | 'hedge_max_seconds'
  | 'check_interval_seconds'
  | 'session_idle_return_seconds';

export type BooleanRoutingKey = 'auto_return_to_preferred' | 'hedge';

export type RoutingFormKey = NumericRoutingKey | BooleanRoutingKey | 'preferred_provider';

export interface NumericFieldSpec {
  key: NumericRoutingKey;
  label: string;
  unit: string;
  /** integer ≥ min, number ≥ min, or number > min */
  rule: 'int>=1' | '>=0' | '>0';
  hint: string;
  /** Which part of the card it belongs to. */
  group: 'failover' | 'hedge' | 'timeouts';
}

export const NUMERIC_ROUTING_FIELDS: readonly NumericFieldSpec[] = [
  {
    key: 'failure_threshold',
    label: 'Failure threshold',
    unit: '',
    rule: 'int>=1',
    hint: 'Consecutive failures before a provider cools down',
    group: 'failover',
  },
  {
    key: 'cooldown_seconds',
    label: 'Cooldown',
    unit: 's',
    rule: '>=0',
    hint: 'How long a failing provider is skipped',
    group: 'failover',
  },
  {
    key: 'preferred_stable_seconds',
    label: 'Preferred stable',
    unit: 's',
    rule: '>=0',
    hint: 'How long the preferred provider must be failure-free before traffic returns to it',
    group: 'failover',
  },
  {
    key: 'session_idle_return_seconds',
    label: 'Idle return',
    unit: 's',
    rule: '>=0',
    hint: 'A Codex session idle this long goes back to the preferred provider',
    group: 'failover',
  },
  {
    key: 'hedge_min_seconds',
    label: 'Hedge min',
    unit: 's',
    rule: '>0',
    hint: 'Shortest wait before a stream that has not answered is also sent to the next provider',
    group: 'hedge',
  },
  {
    key: 'hedge_max_seconds',
    label: 'Hedge max',
    unit: 's',
    rule: '>0',
    hint: 'Longest wait before hedging (the delay adapts to each provider between min and max)',
    group: 'hedge',
  },
  {
    key: 'check_interval_seconds',
    label: 'Check every',
    unit: 's',
    rule: '>0',
    hint: 'How often a provider out of rotation is checked in the background while API Router is in use',
    group: 'hedge',
  },
  {
    key: 'request_timeout_seconds',
    label: 'Request timeout',
    unit: 's',
    rule: '>0',
    hint: 'Time allowed for an upstream response to start',
    group: 'timeouts',
  },
  {
    key: 'stream_idle_timeout_seconds',
    label: 'Stream idle timeout',
    unit: 's',
    rule: '>0',
    hint: 'Longest pause allowed inside a streamed response',
    group: 'timeouts',
  },
];

export type RoutingDraft = Record<NumericRoutingKey, string> &
  Record<BooleanRoutingKey, boolean> & {
    /** `""` = first in list. */
    preferred_provider: string;
  };

export function routingToDraft(r: RoutingConfig): RoutingDraft {
  return {
    preferred_provider: r.preferred_provider ?? '',
    auto_return_to_preferred: r.auto_return_to_preferred,
    hedge: r.hedge,
    preferred_stable_seconds: String(r.preferred_stable_seconds),
    failure_threshold: String(r.failure_threshold),
    cooldown_seconds: String(r.cooldown_seconds),
    request_timeout_seconds: String(r.request_timeout_seconds),
    stream_idle_timeout_seconds: String(r.stream_idle_timeout_seconds),
    hedge_min_seconds: String(r.hedge_min_seconds),
    hedge_max_seconds: String(r.hedge_max_seconds),
    check_interval_seconds: String(r.check_interval_seconds),
    session_idle_return_seconds: String(r.session_idle_return_seconds),
  };
}

/** The backend's bound for every number in config.toml (LARGEST_NUMBER in config/schema.py). */
const LARGEST_NUMBER = 1_000_000_000;

const NUMBER_RE = /^[+-]?(\d+(\.\d*)?|\.\d+)$/;

/** Parses one numeric field. */
export function parseRoutingNumber(
  spec: Pick<NumericFieldSpec, 'rule'>,
  raw: string,
): { value: number; error: null } | { value: null; error: string } {
  const text = raw.trim();
  if (!text) return { value: null, error: 'Enter a value' };
  if (!NUMBER_RE.test(text)) return { value: null, error: 'Enter a number' };
  const value = Number(text);
  if (!Number.isFinite(value)) return { value: null, error: 'Enter a number' };
  switch (spec.rule) {
    case 'int>=1':
      if (!Number.isInteger(value)) return { value: null, error: 'Enter a whole number' };
      if (value < 1) return { value: null, error: 'Must be at least 1' };
      break;
    case '>=0':
      if (value < 0) return { value: null, error: 'Must be 0 or more' };
      break;
    case '>0':
      if (value <= 0) return { value: null, error: 'Must be more than 0' };
      break;
  }
  if (value > LARGEST_NUMBER) return { value: null, error: `Must be at most ${LARGEST_NUMBER}` };
  return { value, error: null };
}

export interface RoutingUpdatePlan {
  /** Valid values that differ from the current config: what Save sends. */
  values: RoutingUpdate;
  /** Per-field errors to show inline; these fields are never sent. */
  errors: FieldErrors<RoutingFormKey>;
  /** Fields whose draft differs from the current config (valid or not). */
  dirty: RoutingFormKey[];
  /** A field whose error stops Save from sending anything at all (its error says why), or null. */
  blocking: 'preferred_provider' | null;
}

const BOOLEAN_KEYS: readonly BooleanRoutingKey[] = ['auto_return_to_preferred', 'hedge'];

/**
 * `providerIds`: the providers that exist. A chosen preferred provider that no longer exists is an
 * error rather than a refused call — and it blocks Save: saving the other fields with a toast that
 * says "saved" would read as if the choice had been saved too. (A provider renamed while the form was
 * open is not gone: `followDraftRenames` has moved the draft to its new id before this.)
 */
export function planRoutingUpdate(
  draft: RoutingDraft,
  current: RoutingConfig,
  providerIds?: readonly ProviderId[],
): RoutingUpdatePlan {
  const values: RoutingUpdate = {};
  const errors: FieldErrors<RoutingFormKey> = {};
  const dirty: RoutingFormKey[] = [];
  let blocking: RoutingUpdatePlan['blocking'] = null;
  if (draft.preferred_provider !== (current.preferred_provider ?? '')) {
    dirty.push('preferred_provider');
    if (draft.preferred_provider && providerIds && !providerIds.includes(draft.preferred_provider)) {
      errors.preferred_provider = 'That provider no longer exists (deleted meanwhile): choose another one to save';
      blocking = 'preferred_provider';
    } else {
      values.preferred_provider = draft.preferred_provider;
    }
  }
  for (const key of BOOLEAN_KEYS) {
    if (draft[key] !== current[key]) {
      dirty.push(key);
      values[key] = draft[key];
    }
  }
  const parsed: Partial<Record<NumericRoutingKey, number>> = {};
  for (const spec of NUMERIC_ROUTING_FIELDS) {
    const r = parseRoutingNumber(spec, draft[spec.key]);
    if (r.error !== null) {
      errors[spec.key] = r.error;
      dirty.push(spec.key);
      continue;
    }
    parsed[spec.key] = r.value;
    if (r.value !== current[spec.key]) {
      dirty.push(spec.key);
      values[spec.key] = r.value;
    }
  }
  // The hedge delay lives between min and max: max may not be below min (as they would be saved).
  const min = parsed.hedge_min_seconds ?? current.hedge_min_seconds;
  const max = parsed.hedge_max_seconds ?? current.hedge_max_seconds;
  if (parsed.hedge_max_seconds !== undefined && parsed.hedge_min_seconds !== undefined && max < min) {
    errors.hedge_max_seconds = `Must be at least the hedge min (${min} s)`;
    delete values.hedge_max_seconds;
    delete values.hedge_min_seconds;
  }
  return { values, errors, dirty, blocking };
}

/**
 * The draft with its preferred provider followed to the id it has now, when that provider was renamed
 * since it was chosen (the status's `renamed`); the same object when there is nothing to follow. A
 * provider deleted since keeps its id, and `planRoutingUpdate` says it is gone.
 */
export function followDraftRenames(
  draft: RoutingDraft,
  providerIds: readonly ProviderId[],
  renamed: Readonly<Record<ProviderId, ProviderId>>,
): RoutingDraft {
  const preferred = followRenames(draft.preferred_provider, providerIds, renamed);
  return preferred === draft.preferred_provider ? draft : { ...draft, preferred_provider: preferred };
}

/**
 * After the server config changed (poll or save), keep what the person is still editing and take
 * the server's value for every field they have not touched.
 */
export function mergeDraft(
  draft: RoutingDraft,
  previousServer: RoutingConfig,
  nextServer: RoutingConfig,
): RoutingDraft {
  const prevDraft = routingToDraft(previousServer);
  const nextDraft = routingToDraft(nextServer);
  const out = { ...draft };
  for (const key of Object.keys(nextDraft) as (keyof RoutingDraft)[]) {
    if (draft[key] === prevDraft[key]) (out as Record<string, unknown>)[key] = nextDraft[key];
  }
  return out;
}

/**
 * The provider to offer going back to: with automatic return off, traffic stays on the fallback until the
 * user picks a provider, and picking the preferred one again (set_preferred_provider) is that pick. Null
 * when there is nothing to go back to (serving the preferred one, locked, or automatic return on).
 */
export function returnTarget(s: {
  autoReturn: boolean;
  manualOverride: ProviderId | null;
  activeProvider: ProviderId | null;
  preferredProvider: ProviderId | null;
}): ProviderId | null {
  if (s.autoReturn || s.manualOverride || !s.activeProvider || !s.preferredProvider) return null;
  return s.activeProvider === s.preferredProvider ? null : s.preferredProvider;
}

/** The preferred provider in words: "Relay A" or "First in list (Relay B)". ``known``: whether an id names a provider. */
export function preferredLabel(
  explicit: string,
  effective: string,
  nameOf: (id: ProviderId) => string,
  known: (id: ProviderId) => boolean,
): string {
  // A chosen provider that cannot serve (switched off) is named with the one preferred meanwhile; an id typed
  // by hand into config.toml that names no provider is said to be one, not one that will serve later.
  if (explicit && explicit !== effective) {
    const why = known(explicit) ? 'cannot serve now' : 'no such provider';
    return effective ? `${nameOf(explicit)} (${why}; ${nameOf(effective)} meanwhile)` : `${nameOf(explicit)} (${why})`;
  }
  if (explicit) return nameOf(explicit);
  return effective ? `First in list (${nameOf(effective)})` : 'First in list';
}
