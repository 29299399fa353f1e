// Every Routing card number is checked in the form with the backend's own rule (config/schema.py):
// a value config.toml refuses never leaves the form (issue 3: "the [routing] values editable with validation").
import { describe, expect, it } from 'vitest';
import type { RoutingConfig } from '../src/types';
import { NUMERIC_ROUTING_FIELDS, planRoutingUpdate, routingToDraft, type NumericRoutingKey } from '../src/logic/routing';

const current: RoutingConfig = {
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

// The backend's rule per field: `_above(0)` (0 refused) or `_at_least(0)` (0 taken); failure_threshold ≥ 1.
const ZERO_REFUSED: NumericRoutingKey[] = [
  'request_timeout_seconds',
  'stream_idle_timeout_seconds',
  'hedge_min_seconds',
  'hedge_max_seconds',
  'check_interval_seconds',
  'failure_threshold',
];
const ZERO_TAKEN: NumericRoutingKey[] = ['preferred_stable_seconds', 'cooldown_seconds', 'session_idle_return_seconds'];

describe('each routing number with the backend rule', () => {
  it('covers every numeric field of the card', () => {
    expect([...ZERO_REFUSED, ...ZERO_TAKEN].sort()).toEqual(NUMERIC_ROUTING_FIELDS.map((f) => f.key).sort());
  });
  it.each(ZERO_REFUSED)('%s: 0 is an inline error and is not sent', (key) => {
    const plan = planRoutingUpdate({ ...routingToDraft(current), [key]: '0' }, current);
    expect(plan.errors[key]).toBeTruthy();
    expect(plan.values).not.toHaveProperty(key);
  });
  it.each(ZERO_TAKEN)('%s: 0 is sent', (key) => {
    const plan = planRoutingUpdate({ ...routingToDraft(current), [key]: '0' }, current);
    expect(plan.errors[key]).toBeUndefined();
    expect(plan.values).toEqual({ [key]: 0 });
  });
  it.each(NUMERIC_ROUTING_FIELDS.map((f) => f.key))('%s: a negative number is an inline error', (key) => {
    const plan = planRoutingUpdate({ ...routingToDraft(current), [key]: '-1' }, current);
    expect(plan.errors[key]).toBeTruthy();
    expect(plan.values).not.toHaveProperty(key);
  });
});
