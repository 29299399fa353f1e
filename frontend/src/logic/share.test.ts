import { describe, expect, it } from 'vitest';
import { replaceEqualDeep, shareById, shareStatus } from './share';

describe('replaceEqualDeep', () => {
  it('returns prev when deeply equal', () => {
    const prev = { a: 1, b: { c: [1, 2, { d: 'x' }] } };
    const next = JSON.parse(JSON.stringify(prev));
    expect(replaceEqualDeep(prev, next)).toBe(prev);
  });
  it('keeps unchanged branches and replaces changed ones', () => {
    const prev = { p1: { x: 1 }, p2: { x: 2 }, now: 1 };
    const next = { p1: { x: 1 }, p2: { x: 3 }, now: 2 };
    const out = replaceEqualDeep(prev, next);
    expect(out).not.toBe(prev);
    expect(out).toEqual(next);
    expect(out.p1).toBe(prev.p1);
    expect(out.p2).not.toBe(prev.p2);
    expect(out.p2).toEqual({ x: 3 });
  });
  it('notices added and removed keys', () => {
    const prev = { a: 1 } as Record<string, number>;
    expect(replaceEqualDeep(prev, { a: 1, b: 2 })).toEqual({ a: 1, b: 2 });
    expect(replaceEqualDeep({ a: 1, b: 2 } as Record<string, number>, { a: 1 })).toEqual({ a: 1 });
    expect(replaceEqualDeep({ a: undefined } as Record<string, unknown>, { b: undefined })).toEqual({ b: undefined });
  });
  it('handles arrays, nulls and type changes', () => {
    expect(replaceEqualDeep([1, 2], [1, 2, 3])).toEqual([1, 2, 3]);
    expect(replaceEqualDeep<unknown>({ a: null }, { a: { b: 1 } })).toEqual({ a: { b: 1 } });
    expect(replaceEqualDeep<unknown>([1], { 0: 1 })).toEqual({ 0: 1 });
    expect(replaceEqualDeep(undefined, { a: 1 })).toEqual({ a: 1 });
  });
});

describe('shareById', () => {
  it('keeps identity of unchanged items even when they move', () => {
    const a = { id: 1, v: 'a' };
    const b = { id: 2, v: 'b' };
    const out = shareById([b, a], [{ id: 3, v: 'c' }, { id: 2, v: 'b' }, { id: 1, v: 'a' }]);
    expect(out[1]).toBe(b);
    expect(out[2]).toBe(a);
  });
  it('returns prev when nothing changed', () => {
    const prev = [{ id: 1, v: 'a' }];
    expect(shareById(prev, [{ id: 1, v: 'a' }])).toBe(prev);
  });
});

describe('shareStatus', () => {
  it('shares providers and events between polls', () => {
    const prev = {
      now_unix_ms: 1,
      providers: { p1: { s: 'healthy' }, p2: { s: 'healthy' } },
      recent_events: [{ id: 1, m: 'x' }],
    };
    const next = {
      now_unix_ms: 2,
      providers: { p1: { s: 'healthy' }, p2: { s: 'cooldown' } },
      recent_events: [{ id: 2, m: 'y' }, { id: 1, m: 'x' }],
    };
    const out = shareStatus(prev, next);
    expect(out.providers.p1).toBe(prev.providers.p1);
    expect(out.providers.p2).not.toBe(prev.providers.p2);
    expect(out.recent_events[1]).toBe(prev.recent_events[0]);
    expect(out.now_unix_ms).toBe(2);
  });
  it('returns next on first load and prev when identical', () => {
    const s = { recent_events: [{ id: 1 }] };
    expect(shareStatus(null, s)).toBe(s);
    expect(shareStatus(s, JSON.parse(JSON.stringify(s)))).toBe(s);
  });
});
