// The [routing] form: draft values as typed, validation per the update_routing rules, and the
// subset of values that is valid and changed (the only thing ever sent). Pure.

import type { RoutingConfig, RoutingUpdate } from '../types';
import type { FieldErrors } from './validate';

export type NumericRoutingKey =
  | 'preferred_stable_seconds'
  | 'failure_threshold'
  | 'cooldown_seconds'
  | 'request_timeout_seconds'
  | 'stream_idle_timeout_seconds';

export type RoutingFormKey = NumericRoutingKey | 'auto_return_to_preferred';

export interface NumericFieldSpec {
  key: NumericRoutingKey;
  label: string;
  unit: string;
  /** integer ≥ min, number ≥ min, or number > min */
  rule: 'int>=1' | '>=0' | '>0';
  hint: string;
}

export const NUMERIC_ROUTING_FIELDS: readonly NumericFieldSpec[] = [
  {
    key: 'failure_threshold',
    label: 'Failure threshold',
    unit: '',
    rule: 'int>=1',
    hint: 'Consecutive failures before a provider cools down',
  },
  { key: 'cooldown_seconds', label: 'Cooldown', unit: 's', rule: '>=0', hint: 'How long a failing provider is skipped' },
  {
    key: 'preferred_stable_seconds',
    label: 'Preferred stable',
    unit: 's',
    rule: '>=0',
    hint: 'How long the preferred provider must be healthy before routing returns to it',
  },
  {
    key: 'request_timeout_seconds',
    label: 'Request timeout',
    unit: 's',
    rule: '>0',
    hint: 'Time allowed for an upstream response to start',
  },
  {
    key: 'stream_idle_timeout_seconds',
    label: 'Stream idle timeout',
    unit: 's',
    rule: '>0',
    hint: 'Longest pause allowed inside a streamed response',
  },
];

export type RoutingDraft = Record<NumericRoutingKey, string> & { auto_return_to_preferred: boolean };

export function routingToDraft(r: RoutingConfig): RoutingDraft {
  return {
    auto_return_to_preferred: r.auto_return_to_preferred,
    preferred_stable_seconds: String(r.preferred_stable_seconds),
    failure_threshold: String(r.failure_threshold),
    cooldown_seconds: String(r.cooldown_seconds),
    request_timeout_seconds: String(r.request_timeout_seconds),
    stream_idle_timeout_seconds: String(r.stream_idle_timeout_seconds),
  };
}

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
  return { value, error: null };
}

export interface RoutingUpdatePlan {
  /** Valid values that differ from the current config: what Save sends. */
  values: RoutingUpdate;
  /** Per-field errors to show inline; these fields are never sent. */
  errors: FieldErrors<RoutingFormKey>;
  /** Fields whose draft differs from the current config (valid or not). */
  dirty: RoutingFormKey[];
}

export function planRoutingUpdate(draft: RoutingDraft, current: RoutingConfig): RoutingUpdatePlan {
  const values: RoutingUpdate = {};
  const errors: FieldErrors<RoutingFormKey> = {};
  const dirty: RoutingFormKey[] = [];
  if (draft.auto_return_to_preferred !== current.auto_return_to_preferred) {
    dirty.push('auto_return_to_preferred');
    values.auto_return_to_preferred = draft.auto_return_to_preferred;
  }
  for (const spec of NUMERIC_ROUTING_FIELDS) {
    const parsed = parseRoutingNumber(spec, draft[spec.key]);
    if (parsed.error !== null) {
      errors[spec.key] = parsed.error;
      dirty.push(spec.key);
    } else if (parsed.value !== current[spec.key]) {
      dirty.push(spec.key);
      values[spec.key] = parsed.value;
    }
  }
  return { values, errors, dirty };
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
  if (draft.auto_return_to_preferred === prevDraft.auto_return_to_preferred) {
    out.auto_return_to_preferred = nextDraft.auto_return_to_preferred;
  }
  for (const spec of NUMERIC_ROUTING_FIELDS) {
    if (draft[spec.key] === prevDraft[spec.key]) out[spec.key] = nextDraft[spec.key];
  }
  return out;
}
