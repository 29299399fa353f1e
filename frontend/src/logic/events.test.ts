import { describe, expect, it } from 'vitest';
import type { GatewayEvent } from '../types';
import { ALL_PROVIDERS, eventProviderChoices, filterEvents, followEventFilter, levelMeta, shownLevel, DEFAULT_EVENT_FILTER } from './events';

const ev = (id: number, level: GatewayEvent['level'], provider: string | null, seen = false, unix_ms = id * 1000): GatewayEvent => ({
  id,
  unix_ms,
  level,
  provider,
  kind: 'k',
  message: `m${id}`,
  seen,
});

const events = [ev(1, 'info', null, true), ev(2, 'warning', 'p1', true), ev(4, 'error', 'p2'), ev(3, 'error', 'p1')];

describe('filterEvents', () => {
  it('returns everything newest first by default, without mutating', () => {
    const copy = [...events];
    expect(filterEvents(events, DEFAULT_EVENT_FILTER).map((e) => e.id)).toEqual([4, 3, 2, 1]);
    expect(events).toEqual(copy);
  });
  it('filters by level', () => {
    expect(filterEvents(events, { ...DEFAULT_EVENT_FILTER, level: 'error' }).map((e) => e.id)).toEqual([4, 3]);
  });
  it('filters by provider, including gateway events without one', () => {
    expect(filterEvents(events, { ...DEFAULT_EVENT_FILTER, provider: 'p1' }).map((e) => e.id)).toEqual([3, 2]);
    expect(filterEvents(events, { ...DEFAULT_EVENT_FILTER, provider: '' }).map((e) => e.id)).toEqual([1]);
  });
  it('hides seen events on request and combines filters', () => {
    expect(filterEvents(events, { ...DEFAULT_EVENT_FILTER, hideSeen: true }).map((e) => e.id)).toEqual([4, 3]);
    expect(filterEvents(events, { level: 'error', provider: 'p1', hideSeen: true }).map((e) => e.id)).toEqual([3]);
  });
  it('orders by time, then id', () => {
    const same = [ev(1, 'info', null, false, 5), ev(2, 'info', null, false, 5), ev(3, 'info', null, false, 1)];
    expect(filterEvents(same, DEFAULT_EVENT_FILTER).map((e) => e.id)).toEqual([2, 1, 3]);
  });
});

describe('a provider whose id is "all"', () => {
  const withAll = [...events, ev(5, 'info', 'all')];
  it('is not "All providers": the sentinel is no provider id', () => {
    expect(DEFAULT_EVENT_FILTER.provider).toBe(ALL_PROVIDERS);
    expect(ALL_PROVIDERS).not.toMatch(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/);
    expect(ALL_PROVIDERS).not.toBe(''); // '' is "Gateway (none)"
    expect(filterEvents(withAll, { ...DEFAULT_EVENT_FILTER, provider: 'all' }).map((e) => e.id)).toEqual([5]);
    expect(filterEvents(withAll, DEFAULT_EVENT_FILTER)).toHaveLength(5);
  });
});

describe('followEventFilter', () => {
  const filter = { ...DEFAULT_EVENT_FILTER, provider: 'b' };
  it('follows a provider renamed since to its id now', () => {
    expect(followEventFilter(filter, ['a', 'b2'], { b: 'b2' })).toEqual({ ...filter, provider: 'b2' });
  });
  it('returns the same filter when there is nothing to follow', () => {
    expect(followEventFilter(filter, ['a', 'b'], { b: 'b2' })).toBe(filter);
    expect(followEventFilter(filter, ['a'], {})).toBe(filter); // deleted: keeps its id
    expect(followEventFilter(DEFAULT_EVENT_FILTER, ['a'], { '*': 'a' })).toBe(DEFAULT_EVENT_FILTER);
  });
});

describe('event helpers', () => {
  it('provider choices: configured order first, then others from events', () => {
    expect(eventProviderChoices([...events, ev(9, 'info', 'old')], ['p2', 'p1'])).toEqual(['p2', 'p1', 'old']);
  });
  it('provider choices keep the chosen provider, even with no event of it left', () => {
    expect(eventProviderChoices(events, ['p2', 'p1'], 'gone')).toEqual(['p2', 'p1', 'gone']);
    expect(eventProviderChoices(events, ['p2', 'p1'], null)).toEqual(['p2', 'p1']);
  });
  it('levels map to distinct tones and labels; errors stand apart', () => {
    expect(levelMeta('error')).toMatchObject({ label: 'Error', tone: 'bad', icon: 'error' });
    expect(levelMeta('warning')).toMatchObject({ label: 'Warning', tone: 'warn' });
    expect(levelMeta('info')).toMatchObject({ label: 'Info', tone: 'neutral' });
  });
});

describe('shownLevel', () => {
  it('shows routine cooldowns as warnings, and everything else as logged', () => {
    expect(shownLevel({ kind: 'cooldown', level: 'error' })).toBe('warning');
    expect(shownLevel({ kind: 'cooldown', level: 'info' })).toBe('info');
    expect(shownLevel({ kind: 'request_failed', level: 'error' })).toBe('error');
  });
  it('filters by the level shown', () => {
    const cooldown: GatewayEvent = { id: 9, unix_ms: 9, level: 'error', provider: 'p1', kind: 'cooldown', message: 'm', seen: false };
    expect(filterEvents([cooldown], { ...DEFAULT_EVENT_FILTER, level: 'error' })).toEqual([]);
    expect(filterEvents([cooldown], { ...DEFAULT_EVENT_FILTER, level: 'warning' })).toEqual([cooldown]);
  });
});
