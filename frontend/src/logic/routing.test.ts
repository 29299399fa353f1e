import { describe, expect, it } from 'vitest';
import type { RoutingConfig } from '../types';
import { mergeDraft, parseRoutingNumber, planRoutingUpdate, routingToDraft } from './routing';

const current: RoutingConfig = {
  preferred_provider: 'p1',
  auto_return_to_preferred: true,
  preferred_stable_seconds: 30,
  failure_threshold: 2,
  cooldown_seconds: 30,
  request_timeout_seconds: 60,
  stream_idle_timeout_seconds: 300,
};

describe('parseRoutingNumber', () => {
  it('failure_threshold: integer ≥ 1', () => {
    const rule = { rule: 'int>=1' } as const;
    expect(parseRoutingNumber(rule, '3')).toEqual({ value: 3, error: null });
    expect(parseRoutingNumber(rule, '0').error).toMatch(/at least 1/);
    expect(parseRoutingNumber(rule, '1.5').error).toMatch(/whole/);
    expect(parseRoutingNumber(rule, '-2').error).not.toBeNull();
  });
  it('number ≥ 0', () => {
    const rule = { rule: '>=0' } as const;
    expect(parseRoutingNumber(rule, '0').value).toBe(0);
    expect(parseRoutingNumber(rule, '2.5').value).toBe(2.5);
    expect(parseRoutingNumber(rule, '-1').error).toMatch(/0 or more/);
  });
  it('number > 0', () => {
    const rule = { rule: '>0' } as const;
    expect(parseRoutingNumber(rule, '0').error).toMatch(/more than 0/);
    expect(parseRoutingNumber(rule, '.5').value).toBe(0.5);
  });
  it('refuses text that is not a plain number', () => {
    const rule = { rule: '>=0' } as const;
    for (const bad of ['', ' ', 'abc', '1e3', '0x10', '1,5', 'Infinity', '3s']) {
      expect(parseRoutingNumber(rule, bad).error).not.toBeNull();
    }
  });
});

describe('planRoutingUpdate', () => {
  it('sends nothing when nothing changed', () => {
    const plan = planRoutingUpdate(routingToDraft(current), current);
    expect(plan.values).toEqual({});
    expect(plan.errors).toEqual({});
    expect(plan.dirty).toEqual([]);
  });

  it('sends only the valid, changed values and reports the invalid ones', () => {
    const draft = {
      ...routingToDraft(current),
      cooldown_seconds: '45',
      failure_threshold: '0',
      request_timeout_seconds: 'abc',
      auto_return_to_preferred: false,
    };
    const plan = planRoutingUpdate(draft, current);
    expect(plan.values).toEqual({ cooldown_seconds: 45, auto_return_to_preferred: false });
    expect(Object.keys(plan.errors).sort()).toEqual(['failure_threshold', 'request_timeout_seconds']);
    expect(plan.dirty.sort()).toEqual(
      ['auto_return_to_preferred', 'cooldown_seconds', 'failure_threshold', 'request_timeout_seconds'].sort(),
    );
  });

  it('treats "30.0" as unchanged from 30', () => {
    const plan = planRoutingUpdate({ ...routingToDraft(current), cooldown_seconds: '30.0' }, current);
    expect(plan.values).toEqual({});
  });
});

describe('mergeDraft', () => {
  it('takes server changes for untouched fields and keeps edits', () => {
    const draft = { ...routingToDraft(current), cooldown_seconds: '99' };
    const next = { ...current, cooldown_seconds: 10, request_timeout_seconds: 90 };
    const merged = mergeDraft(draft, current, next);
    expect(merged.cooldown_seconds).toBe('99');
    expect(merged.request_timeout_seconds).toBe('90');
  });
});
