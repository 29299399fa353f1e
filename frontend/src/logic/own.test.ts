import { describe, expect, it } from 'vitest';
import { seriesRows } from './analytics';
import { chosenProvider, followEventFilter, levelMeta } from './events';
import { healthBadge } from './health';
import { mapFromRows, sameMap } from './modelMap';
import { followRenames, nameOf, namesFromKey, namesKey, providerNames } from './names';
import { orderedProviderIds } from './order';
import { hasOwn, own, setOwn } from './own';
import { stepLabel } from './providerTest';
import { refusedField } from './refusal';
import { chainOutcome, outcomeBadge, retryLabel } from './requests';
import { replaceEqualDeep } from './share';
import { refreshOutcome } from './usage';
import type { Analytics, EventLevel, HealthStatus, RequestOutcome, RetryKind } from '../types';

/** Valid provider ids (and plausible session ids, model names, kinds) that are Object.prototype members. */
const INHERITED = ['constructor', 'toString', 'valueOf', 'hasOwnProperty', 'isPrototypeOf', 'propertyIsEnumerable', 'toLocaleString'];

describe('own / hasOwn / setOwn', () => {
  it('finds own entries only, never Object.prototype members', () => {
    const record: Record<string, number> = { p1: 1, toString: 2 };
    expect(own(record, 'p1')).toBe(1);
    expect(own(record, 'toString')).toBe(2);
    for (const key of INHERITED.filter((k) => k !== 'toString')) {
      expect(own(record, key)).toBeUndefined();
      expect(hasOwn(record, key)).toBe(false);
    }
    expect(own(record, '__proto__')).toBeUndefined();
    expect(hasOwn(record, 'toString')).toBe(true);
  });

  it('takes null and undefined records and keys', () => {
    expect(own(null, 'p1')).toBeUndefined();
    expect(own(undefined, 'p1')).toBeUndefined();
    expect(own({ p1: 1 }, null)).toBeUndefined();
    expect(own({ p1: 1 }, undefined)).toBeUndefined();
    expect(hasOwn(null, 'p1')).toBe(false);
  });

  it('reads objects without a prototype and keeps falsy values', () => {
    const bare = Object.create(null) as Record<string, number>;
    bare.zero = 0;
    expect(own(bare, 'zero')).toBe(0);
    expect(own(bare, 'constructor')).toBeUndefined();
  });

  it('sets "__proto__" as an entry, not as the prototype', () => {
    const record: Record<string, string> = {};
    setOwn(record, '__proto__', 'x');
    setOwn(record, 'constructor', 'y');
    expect(Object.getPrototypeOf(record)).toBe(Object.prototype);
    expect(Object.keys(record)).toEqual(['__proto__', 'constructor']);
    expect(own(record, '__proto__')).toBe('x');
    expect(JSON.parse(JSON.stringify(record))).toEqual(JSON.parse('{"__proto__":"x","constructor":"y"}'));
  });
});

describe('lookups keyed by server-supplied names', () => {
  it('names: an id the map lacks shows as itself, never a function', () => {
    const names = providerNames({ toString: { display_name: 'Relay ToString' } });
    expect(nameOf(names, 'toString')).toBe('Relay ToString');
    for (const id of INHERITED.filter((k) => k !== 'toString')) expect(nameOf(names, id)).toBe(id);
    expect(nameOf(namesFromKey(namesKey(names)), 'constructor')).toBe('constructor');
    expect(nameOf(namesFromKey(namesKey(names)), 'toString')).toBe('Relay ToString');
  });

  it('names: duplicates among inherited-looking ids get their ids', () => {
    const names = providerNames({ constructor: { display_name: 'Relay' }, valueOf: { display_name: 'Relay' } });
    expect(names).toEqual({ constructor: 'Relay (constructor)', valueOf: 'Relay (valueOf)' });
  });

  it('followRenames: only an own entry of `renamed` leads anywhere', () => {
    expect(followRenames('constructor', ['p1'], {})).toBe('constructor');
    expect(followRenames('toString', ['valueOf'], { toString: 'valueOf' })).toBe('valueOf');
    const filter = { level: 'all', provider: 'valueOf', hideSeen: false } as const;
    expect(followEventFilter(filter, ['p1'], {})).toBe(filter);
    expect(chosenProvider(filter)).toBe('valueOf');
  });

  it('orderedProviderIds: an id in the order without a provider of its own is left out', () => {
    expect(orderedProviderIds({ provider_order: ['constructor', 'p1'], providers: { p1: {} as never } })).toEqual(['p1']);
  });

  it('analytics: a provider with no traffic in a bucket counts 0', () => {
    const a = {
      window: 'hour',
      series: [{ t_unix_ms: 0, providers: { toString: { requests: 2, errors: 1, tokens: 30 } } }],
    } as unknown as Analytics;
    const [row] = seriesRows(a, ['toString', 'constructor'], 'tokens');
    expect([...row.byProvider]).toEqual([['toString', 30], ['constructor', 0]]);
    expect(row.total).toBe(30);
  });

  it('usage refresh: a provider without an entry was not checked', () => {
    const result = { quota: {}, ledgers: {} };
    expect(refreshOutcome(result, 'constructor', ['constructor']).title).toBe('Nothing to check for constructor');
    expect(refreshOutcome(result, null, ['constructor', 'toString']).title).toBe('No usage to check');
  });

  it('fixed tables of labels: an unknown value keyed like a prototype member gets the fallback', () => {
    expect(outcomeBadge({ outcome: 'constructor' as RequestOutcome }).label).toBe('constructor');
    expect(chainOutcome({ outcome: 'toString' as never }).label).toBe('toString');
    expect(retryLabel('valueOf' as RetryKind)).toBe('continuity retry: valueOf');
    expect(levelMeta('constructor' as EventLevel).label).toBe('Info');
    expect(healthBadge({ status: 'toString' as HealthStatus, disabled: false }).label).toBe('Unknown');
    expect(stepLabel('constructor')).toBe('constructor');
    expect(refusedField('constructor is wrong')).toBeNull();
    expect(refusedField('base_url has no host')).toBe('base_url');
  });

  it('model maps: "__proto__" and "constructor" are model names like any other', () => {
    const { map, ok } = mapFromRows([
      { key: 1, from: '__proto__', to: 'a' },
      { key: 2, from: 'constructor', to: 'b' },
    ]);
    expect(ok).toBe(true);
    expect(Object.keys(map)).toEqual(['__proto__', 'constructor']);
    expect(Object.getPrototypeOf(map)).toBe(Object.prototype);
    expect(sameMap({ p: 'x' }, { constructor: 'x' })).toBe(false);
    expect(sameMap(map, JSON.parse('{"__proto__":"a","constructor":"b"}'))).toBe(true);
  });

  it('structural sharing: a key new in `next` is never matched with an inherited member', () => {
    const prev = { providers: { p1: { n: 1 } } } as { providers: Record<string, { n: number }> };
    const next = { providers: { p1: { n: 1 }, constructor: { n: 2 } } };
    const shared = replaceEqualDeep(prev, next);
    expect(shared).not.toBe(prev);
    expect(shared.providers.p1).toBe(prev.providers.p1);
    expect(own(shared.providers, 'constructor')).toEqual({ n: 2 });
    const withProto = JSON.parse('{"model_map":{"__proto__":"x"}}') as { model_map: Record<string, string> };
    const again = replaceEqualDeep(undefined, withProto);
    expect(Object.keys(replaceEqualDeep(again, JSON.parse('{"model_map":{"__proto__":"y"}}') as typeof withProto).model_map)).toEqual(['__proto__']);
  });
});
