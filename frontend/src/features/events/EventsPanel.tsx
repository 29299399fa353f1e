import { memo, useId } from 'react';
import type { Bridge } from '../../bridge';
import { ALL_LEVELS, ALL_PROVIDERS, NO_PROVIDER, levelMeta, shownLevel, type LevelFilter } from '../../logic/events';
import { useBusy } from '../../hooks/useBusy';
import { dayLabel, formatClock, formatDateTime } from '../../logic/format';
import { nameOf, type NameMap } from '../../logic/names';
import { providerOptionLabel } from '../../logic/providerChoice';
import type { GatewayEvent, ProviderId } from '../../types';
import { Icon } from '../../ui/Icon';
import { Button } from '../../ui/Button';
import { ProviderGoneNote } from '../../ui/ProviderGoneNote';
import { useEventFilter } from './useEventFilter';
import { useEventList } from './useEventList';

const NO_RENAMES: Readonly<Record<ProviderId, ProviderId>> = {};

interface Props {
  bridge: Bridge;
  /** The status's newest events (at most 50): the list unfiltered; a filter reads the whole log. */
  events: GatewayEvent[];
  unseen: number;
  providerOrder: string[];
  names: NameMap;
  /** The status's `renamed`: a provider filter follows a renamed provider to its id now. */
  renamed?: Readonly<Record<ProviderId, ProviderId>>;
  onClearSeen: () => Promise<unknown>;
  /** Now (the status's server clock): an event from another day shows its day too. */
  nowMs: number;
}

/**
 * Events, newest first; providers named by display name. Unfiltered: the status's newest events. With a
 * filter set: every matching event in the log (the newest 200 first, "Show older" for more).
 */
export function EventsPanel({ bridge, events, unseen, providerOrder, names, renamed = NO_RENAMES, onClearSeen, nowMs }: Props) {
  const uid = useId();
  const { filter, setFilter, choices, gone } = useEventFilter(events, providerOrder, renamed);
  const list = useEventList(bridge, events, unseen, filter);
  const shown = list.shown;
  const [busy, whileBusy] = useBusy();
  const n = (id: ProviderId) => nameOf(names, id);

  return (
    <section className="card card--events" aria-label="Events">
      <div className="card__head">
        <h2 id="events-title" className="card__title">
          Events{' '}
          <span className={`pill${unseen > 0 ? ' pill--on' : ''}`} data-testid="unseen-count">
            {unseen} unseen
          </span>
        </h2>
        <div className="toolbar">
          <label htmlFor={`${uid}-level`} className="toolbar__label">
            Level
          </label>
          <select
            id={`${uid}-level`}
            value={filter.level}
            onChange={(e) => setFilter((f) => ({ ...f, level: e.target.value as LevelFilter }))}
          >
            <option value={ALL_LEVELS}>All</option>
            <option value="error">Errors</option>
            <option value="warning">Warnings</option>
            <option value="info">Info</option>
          </select>
          <label htmlFor={`${uid}-provider`} className="toolbar__label">
            Provider
          </label>
          <select
            id={`${uid}-provider`}
            value={filter.provider}
            title={filter.provider === ALL_PROVIDERS || filter.provider === NO_PROVIDER ? undefined : n(filter.provider)}
            onChange={(e) => setFilter((f) => ({ ...f, provider: e.target.value }))}
          >
            <option value={ALL_PROVIDERS}>All</option>
            <option value={NO_PROVIDER}>Gateway (none)</option>
            {choices.map((id) => (
              <option key={id} value={id}>
                {providerOptionLabel(id, providerOrder, n)}
              </option>
            ))}
          </select>
          <label className="check">
            <input
              type="checkbox"
              checked={filter.hideSeen}
              onChange={(e) => setFilter((f) => ({ ...f, hideSeen: e.target.checked }))}
            />
            Hide seen
          </label>
          {/* Soft-disabled, not disabled: a disabled button drops the focus it has (its own click
              leaves it with nothing to do: the unseen count becomes 0). */}
          <Button
            type="button"
            className="btn btn--small"
            title="Marks every event as seen: the unseen count goes back to 0 and seen events fade"
            softDisabled={busy || unseen === 0}
            onClick={() => void whileBusy(onClearSeen)}
          >
            Clear seen (mark all as seen)
          </Button>
        </div>
      </div>
      {gone ? <ProviderGoneNote id={filter.provider} what="events" testId="events-provider-gone" /> : null}
      {list.error ? (
        <p className="text-bad small" role="alert" data-testid="events-search-error">
          Could not search all events ({list.error}): showing matches among the newest {events.length} only.
        </p>
      ) : null}
      <div className="events-scroll" aria-busy={list.searching || undefined}>
        {shown.length === 0 ? (
          <p className="empty">
            {list.searching ? 'Searching all events…' : !list.searched && events.length === 0 ? 'No events yet.' : 'No events match the filter.'}
          </p>
        ) : (
          <ol className="events" aria-label="Events list">
            {shown.map((e) => (
              <EventItem key={e.id} event={e} name={e.provider ? nameOf(names, e.provider) : null} day={dayLabel(e.unix_ms, nowMs)} />
            ))}
          </ol>
        )}
        {list.more ? (
          <p className="events__more muted small" data-testid="events-more">
            {shown.length > 0 ? `Showing the newest ${shown.length} matching events.` : 'Only the newest events were searched.'}{' '}
            <Button type="button" className="btn btn--small" onClick={list.showOlder}>
              Show older
            </Button>
          </p>
        ) : null}
      </div>
    </section>
  );
}

const EventItem = memo(function EventItem({
  event: e,
  name,
  day,
}: {
  event: GatewayEvent;
  name: string | null;
  /** "Dec 2" for an event from another day (shown above its time); null today. */
  day: string | null;
}) {
  const level = shownLevel(e);
  const meta = levelMeta(level);
  return (
    <li
      className={`event event--${level}${e.seen ? ' event--seen' : ''}`}
      data-testid={`event-${e.id}`}
      data-level={level}
      data-seen={e.seen ? 'true' : 'false'}
    >
      <time className="event__time mono" dateTime={new Date(e.unix_ms).toISOString()} title={formatDateTime(e.unix_ms)}>
        {day !== null ? <span className="event__day">{day} </span> : null}
        {formatClock(e.unix_ms)}
      </time>
      <span className={`event__level badge badge--${meta.tone}`}>
        <Icon name={meta.icon} size={12} />
        {meta.label}
      </span>
      <span className="event__provider wrap" title={name ? undefined : 'the gateway'}>
        {name ?? '—'}
      </span>
      <span className="event__kind ellipsis" title={e.kind}>
        {e.kind}
      </span>
      <span className="event__message">{e.message}</span>
    </li>
  );
});
