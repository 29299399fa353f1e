import { describe, expect, it } from 'vitest';
import type { RoutingConfig } from '../types';
import {
  followDraftRenames,
  mergeDraft,
  NUMERIC_ROUTING_FIELDS,
  type NumericRoutingKey,
  parseRoutingNumber,
  planRoutingUpdate,
  preferredLabel,
  returnTarget,
  routingToDraft,
} from './routing';

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
  it('at most 1000000000, as config.toml allows', () => {
    expect(parseRoutingNumber({ rule: '>=0' }, '1000000000').value).toBe(1e9);
    expect(parseRoutingNumber({ rule: '>0' }, '1000000001').error).toMatch(/at most 1000000000/);
    expect(parseRoutingNumber({ rule: 'int>=1' }, '99999999999999999999').error).toMatch(/at most/);
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

describe('planRoutingUpdate: preferred provider and hedging', () => {
  it('sends the preferred provider with the other fields, "" for first in list', () => {
    const draft = { ...routingToDraft(current), preferred_provider: '', hedge: false, session_idle_return_seconds: '120' };
    const plan = planRoutingUpdate(draft, current, ['p1', 'p2']);
    expect(plan.values).toEqual({ preferred_provider: '', hedge: false, session_idle_return_seconds: 120 });
    expect(plan.errors).toEqual({});
  });

  it('sends a newly chosen provider, and refuses one that no longer exists', () => {
    const fromFirst = { ...current, preferred_provider: '' };
    expect(planRoutingUpdate({ ...routingToDraft(fromFirst), preferred_provider: 'p2' }, fromFirst, ['p1', 'p2']).values).toEqual({
      preferred_provider: 'p2',
    });
    const gone = planRoutingUpdate({ ...routingToDraft(fromFirst), preferred_provider: 'p9' }, fromFirst, ['p1', 'p2']);
    expect(gone.values).toEqual({});
    expect(gone.errors.preferred_provider).toMatch(/no longer exists/);
  });

  it('a preferred provider deleted meanwhile blocks Save: nothing is sent, not even the valid fields', () => {
    const fromFirst = { ...current, preferred_provider: '' };
    const draft = { ...routingToDraft(fromFirst), preferred_provider: 'p9', cooldown_seconds: '45' };
    const gone = planRoutingUpdate(draft, fromFirst, ['p1', 'p2']);
    expect(gone.blocking).toBe('preferred_provider');
    expect(gone.errors.preferred_provider).toMatch(/no longer exists/);
    expect(gone.values).not.toHaveProperty('preferred_provider');
    const fine = planRoutingUpdate({ ...draft, preferred_provider: 'p2' }, fromFirst, ['p1', 'p2']);
    expect(fine.blocking).toBeNull();
    expect(fine.values).toEqual({ preferred_provider: 'p2', cooldown_seconds: 45 });
  });

  it('keeps hedge max at or above hedge min', () => {
    const bad = planRoutingUpdate({ ...routingToDraft(current), hedge_min_seconds: '8', hedge_max_seconds: '5' }, current);
    expect(bad.errors.hedge_max_seconds).toBe('Must be at least the hedge min (8 s)');
    expect(bad.values).toEqual({});
    const ok = planRoutingUpdate({ ...routingToDraft(current), hedge_min_seconds: '2', hedge_max_seconds: '2' }, current);
    expect(ok.values).toEqual({ hedge_min_seconds: 2, hedge_max_seconds: 2 });
    expect(planRoutingUpdate({ ...routingToDraft(current), hedge_min_seconds: '0' }, current).errors.hedge_min_seconds).toMatch(
      /more than 0/,
    );
  });
});

describe('followDraftRenames', () => {
  const draft = { ...routingToDraft(current), preferred_provider: 'b' };
  it('follows an unsaved preferred provider renamed since to its id now', () => {
    expect(followDraftRenames(draft, ['p1', 'b9'], { b: 'b9' })).toEqual({ ...draft, preferred_provider: 'b9' });
  });
  it('leaves the draft as it is otherwise (the same object)', () => {
    expect(followDraftRenames(draft, ['p1', 'b'], { b: 'b9' })).toBe(draft); // b is configured (again)
    expect(followDraftRenames(draft, ['p1'], {})).toBe(draft); // deleted: Save says so
    const first = routingToDraft({ ...current, preferred_provider: '' });
    expect(followDraftRenames(first, ['p1'], { '': 'p1' })).toBe(first);
  });
});

describe('preferredLabel', () => {
  const names: Record<string, string> = { p1: 'Relay One', p2: 'Relay Two' };
  const nameOf = (id: string) => names[id] ?? id;
  const known = (id: string) => id in names;
  it('names the explicit provider, or says which one "first in list" is now', () => {
    expect(preferredLabel('p2', 'p2', nameOf, known)).toBe('Relay Two');
    expect(preferredLabel('', 'p1', nameOf, known)).toBe('First in list (Relay One)');
    expect(preferredLabel('', '', nameOf, known)).toBe('First in list');
  });
  it('says when the chosen provider cannot serve, and who is preferred meanwhile', () => {
    expect(preferredLabel('p2', 'p1', nameOf, known)).toBe('Relay Two (cannot serve now; Relay One meanwhile)');
  });
  it('says when the chosen id names no provider (typed by hand into config.toml)', () => {
    expect(preferredLabel('p9', 'p1', nameOf, known)).toBe('p9 (no such provider; Relay One meanwhile)');
    expect(preferredLabel('p9', '', nameOf, known)).toBe('p9 (no such provider)'); // and nothing can serve
    expect(preferredLabel('p2', '', nameOf, known)).toBe('Relay Two (cannot serve now)');
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
  it('does the same for the preferred provider and the checkboxes', () => {
    const draft = { ...routingToDraft(current), hedge: false };
    const next = { ...current, preferred_provider: '', hedge: true, auto_return_to_preferred: false };
    const merged = mergeDraft(draft, current, next);
    expect(merged.hedge).toBe(false);
    expect(merged.preferred_provider).toBe('');
    expect(merged.auto_return_to_preferred).toBe(false);
  });
});

describe('returnTarget', () => {
  const base = { autoReturn: false, manualOverride: null, activeProvider: 'p2', preferredProvider: 'p1' };
  it('offers the preferred provider while a fallback serves with automatic return off', () => {
    expect(returnTarget(base)).toBe('p1');
  });
  it('offers nothing when automatic return brings traffic back by itself, under a lock, or on the preferred one', () => {
    expect(returnTarget({ ...base, autoReturn: true })).toBeNull();
    expect(returnTarget({ ...base, manualOverride: 'p2' })).toBeNull();
    expect(returnTarget({ ...base, activeProvider: 'p1' })).toBeNull();
    expect(returnTarget({ ...base, activeProvider: null })).toBeNull();
    expect(returnTarget({ ...base, preferredProvider: null })).toBeNull();
  });
});

// Every Routing card number is checked in the form with the backend's own rule (config/schema.py): a value
// config.toml refuses never leaves the form (issue 3: "the [routing] values editable with validation").
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
