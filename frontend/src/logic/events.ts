// Event list filtering and presentation. Pure.

import type { EventLevel, GatewayEvent, ListEventsArgs, ProviderId } from '../types';
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
 * The status carries only the newest events (`recent_events`, at most 50): with a filter set, the
 * list is read from the server's whole event log instead (`list_events`), so an older match is found.
 */
export function filterIsSet(filter: EventFilter): boolean {
  return filter.level !== ALL_LEVELS || filter.provider !== ALL_PROVIDERS || filter.hideSeen;
}

/** How many matching events the list shows at first, and how many more each "Show older" adds. */
export const EVENT_LIST_STEP = 200;
/** The rows of one `list_events` read (the API takes 1–5000). */
export const EVENT_PAGE = 500;
/** At most this many events read per shown one before the search stops (it says it was cut). */
const SCAN_FACTOR = 10;

/**
 * What `list_events` can filter itself: its `level` and `provider` filter exactly, so a level that
 * the list shows differently (a cooldown logged as an error shows as a warning) and "Gateway (none)"
 * (no provider) are read unfiltered there and filtered here.
 */
export function serverEventQuery(filter: EventFilter): Pick<ListEventsArgs, 'level' | 'provider'> {
  return {
    level: filter.level === 'error' || filter.level === 'info' ? filter.level : null,
    provider: chosenProvider(filter),
  };
}

export interface EventSearch {
  /** Matching events, newest first, at most the number asked for. */
  events: GatewayEvent[];
  /** Older matching events may exist beyond these (more matched, or the search stopped before the oldest). */
  more: boolean;
}

/**
 * Every event matching `filter` in the server's log, newest first, up to `want`: reads `list_events`
 * a page at a time backwards (`before_id`) until it has one more than `want`, reaches the oldest, or
 * has read `want` × SCAN_FACTOR events.
 */
export async function searchEvents(
  read: (args: ListEventsArgs) => Promise<{ events: GatewayEvent[] }>,
  filter: EventFilter,
  want: number,
): Promise<EventSearch> {
  const query = serverEventQuery(filter);
  const matched: GatewayEvent[] = [];
  let before: number | null = null;
  let scanned = 0;
  for (;;) {
    const { events } = await read({ ...query, limit: EVENT_PAGE, before_id: before });
    scanned += events.length;
    matched.push(...filterEvents(events, filter));
    const oldest = events.length < EVENT_PAGE;
    if (oldest || matched.length > want || scanned >= want * SCAN_FACTOR) {
      return { events: filterEvents(matched, filter).slice(0, want), more: !oldest || matched.length > want };
    }
    before = events[events.length - 1].id;
  }
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
