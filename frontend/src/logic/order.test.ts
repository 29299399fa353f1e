import { describe, expect, it } from 'vitest';
import { dropReorder, isPermutation, moveById, moveItem, orderedProviderIds, sameOrder } from './order';

describe('moveItem / moveById', () => {
  const order = ['a', 'b', 'c', 'd'];
  it('moves without mutating', () => {
    expect(moveItem(order, 0, 2)).toEqual(['b', 'c', 'a', 'd']);
    expect(order).toEqual(['a', 'b', 'c', 'd']);
  });
  it('returns the same array for no-op moves', () => {
    expect(moveItem(order, 1, 1)).toBe(order);
    expect(moveItem(order, -1, 2)).toBe(order);
    expect(moveItem(order, 0, 9)).toBe(order);
  });
  it('moves by id and clamps at the ends', () => {
    expect(moveById(order, 'c', -1)).toEqual(['a', 'c', 'b', 'd']);
    expect(moveById(order, 'c', 1)).toEqual(['a', 'b', 'd', 'c']);
    expect(moveById(order, 'a', -1)).toBe(order);
    expect(moveById(order, 'd', 1)).toBe(order);
    expect(moveById(order, 'zz', 1)).toBe(order);
  });
});

describe('dropReorder', () => {
  const order = ['a', 'b', 'c', 'd'];
  it('drops before or after the target', () => {
    expect(dropReorder(order, 'a', 'c', 'before')).toEqual(['b', 'a', 'c', 'd']);
    expect(dropReorder(order, 'a', 'c', 'after')).toEqual(['b', 'c', 'a', 'd']);
    expect(dropReorder(order, 'd', 'a', 'before')).toEqual(['d', 'a', 'b', 'c']);
    expect(dropReorder(order, 'b', 'd', 'after')).toEqual(['a', 'c', 'd', 'b']);
  });
  it('returns the same array when nothing moves', () => {
    expect(dropReorder(order, 'b', 'b', 'after')).toBe(order);
    expect(dropReorder(order, 'a', 'b', 'before')).toBe(order);
    expect(dropReorder(order, 'x', 'b', 'before')).toBe(order);
  });
  it('always yields a permutation', () => {
    for (const from of order)
      for (const to of order)
        for (const place of ['before', 'after'] as const) {
          expect(isPermutation(dropReorder(order, from, to, place), order)).toBe(true);
        }
  });
});

describe('helpers', () => {
  it('sameOrder / isPermutation', () => {
    expect(sameOrder(['a', 'b'], ['a', 'b'])).toBe(true);
    expect(sameOrder(['a', 'b'], ['b', 'a'])).toBe(false);
    expect(isPermutation(['a', 'b'], ['b', 'a'])).toBe(true);
    expect(isPermutation(['a', 'b'], ['a', 'c'])).toBe(false);
    expect(isPermutation(['a'], ['a', 'b'])).toBe(false);
  });
  it('orderedProviderIds follows provider_order and keeps strays at the end', () => {
    const providers = { a: {}, b: {}, c: {} } as never;
    expect(orderedProviderIds({ provider_order: ['c', 'a', 'gone', 'a'], providers })).toEqual(['c', 'a', 'b']);
  });
});
