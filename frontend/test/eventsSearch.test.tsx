// The Events filter searches the whole event log (list_events), not only the 50 newest events the
// status carries: an older error is found, a long match is cut at 200 with "Show older", and
// "Clear seen" still marks every event as seen, the searched list included.

import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { DEFAULT_EVENT_FILTER, searchEvents } from '../src/logic/events';
import type { GatewayEvent, ListEventsArgs } from '../src/types';
import { FakeBackend, NOW, makeStatus } from './fakeBackend';
import { desktopApp } from './desktopApp';

const SLOW = { timeout: 4_000 };
const info = (id: number): GatewayEvent => ({
  id,
  unix_ms: NOW - (2000 - id) * 1000,
  level: 'info',
  provider: 'p1',
  kind: 'probe_ok',
  message: `probe ${id} ok`,
  seen: false,
});

/** 50 newest events in the status (all info), and an older log behind them. */
function backendWithOlder(older: GatewayEvent[]) {
  const status = makeStatus();
  status.recent_events = Array.from({ length: 50 }, (_, i) => info(1050 - i));
  status.unseen_events = 50 + older.filter((e) => !e.seen).length;
  const backend = new FakeBackend(status);
  backend.olderEvents = older;
  return backend;
}

const card = () => within(screen.getByRole('region', { name: 'Events' }));
const shownIds = () => card().queryAllByTestId(/^event-\d+$/).map((e) => Number(e.dataset.testid!.slice(6)));

describe('the Events filter searches every event', () => {
  it('finds an error older than the 50 newest events, by level and by provider', async () => {
    const old: GatewayEvent = { id: 7, unix_ms: NOW - 3_600_000, level: 'error', provider: 'p3', kind: 'request_failed', message: 'upstream 502 long ago', seen: false };
    const backend = backendWithOlder([old, ...Array.from({ length: 24 }, (_, i) => info(900 + i))]);
    await desktopApp(backend);
    expect(card().getByTestId('unseen-count').textContent).toBe('75 unseen');
    fireEvent.change(card().getByLabelText('Level'), { target: { value: 'error' } });
    await waitFor(() => expect(shownIds()).toEqual([7]), SLOW);
    expect(card().queryByText('No events match the filter.')).toBeNull();
    expect(backend.calls.some((c) => c.method === 'list_events' && (c.args as { level?: string }).level === 'error')).toBe(true);

    fireEvent.change(card().getByLabelText('Level'), { target: { value: 'all' } });
    fireEvent.change(card().getByLabelText('Provider'), { target: { value: 'p3' } });
    await waitFor(() => expect(shownIds()).toEqual([7]), SLOW);
  });

  it('finds an old gateway event (no provider), which list_events cannot filter by itself', async () => {
    const old: GatewayEvent = { id: 3, unix_ms: NOW - 7_200_000, level: 'info', provider: null, kind: 'started', message: 'gateway started', seen: false };
    await desktopApp(backendWithOlder([old]));
    fireEvent.change(card().getByLabelText('Provider'), { target: { value: '' } });
    await waitFor(() => expect(shownIds()).toEqual([3]), SLOW);
  });

  it('shows the newest 200 matches, says it is cut, and shows older ones on request', async () => {
    const errors = Array.from({ length: 450 }, (_, i): GatewayEvent => ({ ...info(i + 1), level: 'error', kind: 'request_failed' }));
    await desktopApp(backendWithOlder(errors));
    fireEvent.change(card().getByLabelText('Level'), { target: { value: 'error' } });
    await waitFor(() => expect(shownIds()).toHaveLength(200), SLOW);
    expect(shownIds()[0]).toBe(450);
    expect(card().getByTestId('events-more').textContent).toContain('Showing the newest 200 matching events.');
    fireEvent.click(card().getByRole('button', { name: 'Show older' }));
    await waitFor(() => expect(shownIds()).toHaveLength(400), SLOW);
    fireEvent.click(card().getByRole('button', { name: 'Show older' }));
    await waitFor(() => expect(shownIds()).toHaveLength(450), SLOW);
    expect(card().queryByTestId('events-more')).toBeNull();
  });

  it('"Clear seen" marks every event as seen, the older ones a filter found too', async () => {
    const old: GatewayEvent = { id: 7, unix_ms: NOW - 3_600_000, level: 'error', provider: 'p3', kind: 'request_failed', message: 'upstream 502 long ago', seen: false };
    const backend = backendWithOlder([old]);
    await desktopApp(backend);
    fireEvent.change(card().getByLabelText('Level'), { target: { value: 'error' } });
    await waitFor(() => expect(shownIds()).toEqual([7]), SLOW);
    expect(card().getByTestId('event-7').dataset.seen).toBe('false');
    fireEvent.click(card().getByRole('button', { name: /^Clear seen/ }));
    await waitFor(() => expect(card().getByTestId('unseen-count').textContent).toBe('0 unseen'), SLOW);
    expect(backend.methods()).toContain('mark_events_seen');
    await waitFor(() => expect(card().getByTestId('event-7').dataset.seen).toBe('true'), SLOW);
    fireEvent.click(card().getByLabelText('Hide seen'));
    await waitFor(() => expect(shownIds()).toEqual([]), SLOW);
    expect(card().getByText('No events match the filter.')).toBeTruthy();
  });
});

describe('searchEvents', () => {
  const log = (n: number) => Array.from({ length: n }, (_, i) => info(n - i));
  const reader = (events: GatewayEvent[]) => {
    const asked: ListEventsArgs[] = [];
    const read = async (args: ListEventsArgs) => {
      asked.push(args);
      const rows = events
        .filter((e) => !args.level || e.level === args.level)
        .filter((e) => !args.provider || e.provider === args.provider)
        .filter((e) => args.before_id == null || e.id < args.before_id);
      return { events: rows.slice(0, args.limit ?? 200) };
    };
    return { read, asked };
  };

  it('reads a cooldown logged as an error under "Warnings", and no cooldown under "Errors"', async () => {
    const cooldown: GatewayEvent = { ...info(5), level: 'error', kind: 'cooldown' };
    const failed: GatewayEvent = { ...info(4), level: 'error', kind: 'request_failed' };
    const { read, asked } = reader([cooldown, failed, info(3)]);
    expect((await searchEvents(read, { ...DEFAULT_EVENT_FILTER, level: 'warning' }, 200)).events.map((e) => e.id)).toEqual([5]);
    expect(asked[0].level).toBeNull();
    expect((await searchEvents(read, { ...DEFAULT_EVENT_FILTER, level: 'error' }, 200)).events.map((e) => e.id)).toEqual([4]);
    expect(asked[1].level).toBe('error');
  });

  it('pages back with before_id and says when it stopped before the oldest', async () => {
    const { read, asked } = reader(log(3000));
    const found = await searchEvents(read, { ...DEFAULT_EVENT_FILTER, provider: '' }, 200);
    expect(found).toEqual({ events: [], more: true });
    expect(asked.map((a) => a.before_id)).toEqual([null, 2501, 2001, 1501]);
    const all = await searchEvents(reader(log(600)).read, { ...DEFAULT_EVENT_FILTER, provider: 'p1' }, 1000);
    expect(all.events).toHaveLength(600);
    expect(all.more).toBe(false);
  });
});
