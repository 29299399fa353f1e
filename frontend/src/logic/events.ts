// Event list filtering and presentation. Pure.

import type { EventLevel, GatewayEvent } from '../types';
import type { Tone } from './health';

export type LevelFilter = 'all' | EventLevel;
export type ProviderFilter = string; // 'all' | '' (gateway events, no provider) | provider id

export const ALL = 'all';
export const NO_PROVIDER = '';

export interface EventFilter {
  level: LevelFilter;
  provider: ProviderFilter;
  hideSeen: boolean;
}

export const DEFAULT_EVENT_FILTER: EventFilter = { level: ALL, provider: ALL, hideSeen: false };

/**
 * The level an event is shown with. A cooldown is routine (the router doing its job after a
 * provider failed), so it shows as a warning even when the backend logged it as an error.
 */
export function shownLevel(e: Pick<GatewayEvent, 'level' | 'kind'>): EventLevel {
  return e.kind === 'cooldown' && e.level === 'error' ? 'warning' : e.level;
}

/** Filters (by the level shown) and returns newest first (by time, then id). Never mutates the input. */
export function filterEvents(events: readonly GatewayEvent[], filter: EventFilter): GatewayEvent[] {
  return events
    .filter((e) => filter.level === ALL || shownLevel(e) === filter.level)
    .filter((e) => filter.provider === ALL || (e.provider ?? NO_PROVIDER) === filter.provider)
    .filter((e) => !filter.hideSeen || !e.seen)
    .sort((a, b) => b.unix_ms - a.unix_ms || b.id - a.id);
}

/** Provider choices for the filter: known providers in order, then any other id seen in events. */
export function eventProviderChoices(events: readonly GatewayEvent[], providerOrder: readonly string[]): string[] {
  const out = [...providerOrder];
  for (const e of events) if (e.provider && !out.includes(e.provider)) out.push(e.provider);
  return out;
}

export interface LevelMeta {
  label: string;
  tone: Tone;
  icon: 'info' | 'warning' | 'error';
}

const LEVELS: Record<EventLevel, LevelMeta> = {
  info: { label: 'Info', tone: 'neutral', icon: 'info' },
  warning: { label: 'Warning', tone: 'warn', icon: 'warning' },
  error: { label: 'Error', tone: 'bad', icon: 'error' },
};

export function levelMeta(level: EventLevel): LevelMeta {
  return LEVELS[level] ?? LEVELS.info;
}
