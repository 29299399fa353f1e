import { useMemo, useState } from 'react';
import {
  DEFAULT_EVENT_FILTER,
  chosenProvider,
  eventProviderChoices,
  followEventFilter,
  type EventFilter,
} from '../../logic/events';
import { chosenProviderGone } from '../../logic/providerChoice';
import type { GatewayEvent, ProviderId } from '../../types';

export interface EventFilterState {
  filter: EventFilter;
  setFilter: (change: (f: EventFilter) => EventFilter) => void;
  /** The provider ids the filter offers. */
  choices: ProviderId[];
  /** The filter names an id no provider has now (deleted, or renamed by hand). */
  gone: boolean;
}

/**
 * The Events filter. A provider given a new id takes its events with it, so a filter on it follows
 * it to that id (from the status's `renamed`), as the Requests filter does; a deleted provider keeps
 * its id and its events.
 */
export function useEventFilter(
  events: readonly GatewayEvent[],
  providerOrder: readonly ProviderId[],
  renamed: Readonly<Record<ProviderId, ProviderId>>,
): EventFilterState {
  const [stored, setFilter] = useState<EventFilter>(DEFAULT_EVENT_FILTER);
  // Adjusting state while rendering (react.dev "You might not need an effect"): stored, not only
  // derived, so that a provider added later under the old id does not take the filter back.
  const filter = followEventFilter(stored, providerOrder, renamed);
  if (filter !== stored) setFilter(filter);

  const chosen = chosenProvider(filter);
  const choices = useMemo(() => eventProviderChoices(events, providerOrder, chosen), [events, providerOrder, chosen]);
  return { filter, setFilter, choices, gone: chosenProviderGone(chosen, providerOrder) };
}
