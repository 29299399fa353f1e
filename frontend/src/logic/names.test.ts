import { describe, expect, it } from 'vitest';
import { followRenames, idsGone, nameOf, namesFromKey, namesKey, providerNames, nameWithoutId } from './names';

describe('providerNames', () => {
  it('uses display names, falls back to the id, and tells shared names apart', () => {
    const names = providerNames({
      p1: { display_name: 'Relay One' },
      p2: { display_name: '  ' },
      a: { display_name: 'Relay' },
      b: { display_name: 'Relay' },
    });
    expect(names).toEqual({ p1: 'Relay One', p2: 'p2', a: 'Relay (a)', b: 'Relay (b)' });
  });
});

describe('nameOf', () => {
  it('shows the id of a provider that is gone, and a dash for none', () => {
    const names = { p1: 'Relay One' };
    expect(nameOf(names, 'p1')).toBe('Relay One');
    expect(nameOf(names, 'old')).toBe('old');
    expect(nameOf(names, null)).toBe('—');
    expect(nameOf(names, '', 'nobody')).toBe('nobody');
  });
});

describe('namesKey', () => {
  it('changes only when an id or a name does', () => {
    expect(namesKey({ p1: 'A', p2: 'B' })).toBe(namesKey({ p1: 'A', p2: 'B' }));
    expect(namesKey({ p1: 'A', p2: 'B' })).not.toBe(namesKey({ p1: 'A', p2: 'C' }));
  });
  it('decodes back to the same names', () => {
    const names = { p1: 'Relay One', 'a.b': 'Zürich – 東京', x: 'x' };
    expect(namesFromKey(namesKey(names))).toEqual(names);
    expect(namesFromKey(namesKey({}))).toEqual({});
  });
});

describe('nameWithoutId', () => {
  it('drops the " (id)" that tells apart a shared name, and is null when the name is the id', () => {
    expect(nameWithoutId('Relay One (dup2)', 'dup2')).toBe('Relay One');
    expect(nameWithoutId('race1', 'race1')).toBeNull();
    expect(nameWithoutId('Relay Nine', 'p9')).toBe('Relay Nine');
    expect(nameWithoutId('Relay (p1)', 'p2')).toBe('Relay (p1)');
  });
});

describe('idsGone', () => {
  it('is true when an id left the list (a rename or a delete), not when ids were only added or moved', () => {
    expect(idsGone(['a', 'b'], ['relay_a', 'b'])).toBe(true);
    expect(idsGone(['a', 'b'], ['b'])).toBe(true);
    expect(idsGone([], ['a', 'b'])).toBe(false);
    expect(idsGone(['a'], ['b', 'a', 'c'])).toBe(false);
  });
});

describe('followRenames', () => {
  it('follows an id that is gone to where the status says it was renamed', () => {
    expect(followRenames('relay_a', ['relay_a2', 'b'], { relay_a: 'relay_a2' })).toBe('relay_a2');
  });

  it('keeps the id while it is configured, or when the rename leads to no configured provider', () => {
    expect(followRenames('a', ['a', 'b'], { a: 'b' })).toBe('a'); // a provider added later under the old id
    expect(followRenames('a', ['c'], { a: 'b' })).toBe('a'); // b was deleted since
    expect(followRenames('gone', ['b'], { a: 'b' })).toBe('gone');
    expect(followRenames('', ['b'], { '': 'b' })).toBe('');
  });

  it('reads only the map’s own entries (an id may be called “constructor”)', () => {
    expect(followRenames('constructor', ['b'], {})).toBe('constructor');
    expect(followRenames('toString', ['b'], {})).toBe('toString');
  });
});
