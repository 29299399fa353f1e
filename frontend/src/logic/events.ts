// Event list filtering and presentation. Pure.

import type { EventLevel, GatewayEvent, ProviderId } from '../types';
import type { Tone } from './health';
import { followRenames } from './names';
import { withChosenProvider } from './providerChoice';
import { own } from './own';

export type LevelFilter = typeof ALL_LEVELS | EventLevel;
export type ProviderFilter = string; // ALL_PROVIDERS | NO_PROVIDER (gateway events) | provider id

export const ALL_LEVELS = 'all';
/**
 * "All providers". Not 'all', which is a valid provider id (a provider called "all" could not be
 * chosen), nor '' (NO_PROVIDER): "*" can never be a provider id.
 */
export const ALL_PROVIDERS = '*';
export const NO_PROVIDER = '';

export interface EventFilter {
  level: LevelFilter;
  provider: ProviderFilter;
  hideSeen: boolean;
}

export const DEFAULT_EVENT_FILTER: EventFilter = { level: ALL_LEVELS, provider: ALL_PROVIDERS, hideSeen: false };

/** The provider the filter names, or null for "All" and "Gateway (none)". */
export function chosenProvider(filter: Pick<EventFilter, 'provider'>): ProviderId | null {
  return filter.provider === ALL_PROVIDERS || filter.provider === NO_PROVIDER ? null : filter.provider;
}

/**
 * The filter with its provider followed to the id it has now when it was renamed since (the store
 * moves a renamed provider's events to its new id, as the Requests filter follows its requests);
 * the same object when there is nothing to follow. A deleted provider keeps its id: its events stay.
 */
export function followEventFilter(
  filter: EventFilter,
  configured: readonly ProviderId[],
  renamed: Readonly<Record<ProviderId, ProviderId>>,
): EventFilter {
  if (chosenProvider(filter) === null) return filter;
  const provider = followRenames(filter.provider, configured, renamed);
  return provider === filter.provider ? filter : { ...filter, provider };
}

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
    .filter((e) => filter.level === ALL_LEVELS || shownLevel(e) === filter.level)
    .filter((e) => filter.provider === ALL_PROVIDERS || (e.provider ?? NO_PROVIDER) === filter.provider)
    .filter((e) => !filter.hideSeen || !e.seen)
    .sort((a, b) => b.unix_ms - a.unix_ms || b.id - a.id);
}

/**
 * Provider choices for the filter: known providers in order, then any other id seen in events, then
 * the chosen provider when neither has it (deleted, its events gone from the recent list).
 */
export function eventProviderChoices(
  events: readonly GatewayEvent[],
  providerOrder: readonly string[],
  chosen: ProviderId | null = null,
): string[] {
  const out = [...providerOrder];
  for (const e of events) if (e.provider && !out.includes(e.provider)) out.push(e.provider);
  return withChosenProvider(out, chosen);
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
  return own(LEVELS, level) ?? LEVELS.info;
}
