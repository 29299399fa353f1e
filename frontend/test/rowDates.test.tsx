// The Requests table and the Events list keep 30 days: a row from another day shows its day, not
// only a time of day that could be any day's; today's rows stay compact ("14:03:09").

import { render, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { App } from '../src/App';
import { createDesktopBridge } from '../src/bridge';
import { formatClock, formatRowTime } from '../src/logic/format';
import { FakeBackend, NOW, SESSION_B, makeStatus } from './fakeBackend';
import { desktopApp } from './desktopApp';

const DAY = 86_400_000;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const day = (ms: number) => `${MONTHS[new Date(ms).getMonth()]} ${new Date(ms).getDate()}`;

describe('formatRowTime', () => {
  it('is the time alone today and the day and time on another day', () => {
    const noon = new Date(2026, 11, 5, 12, 0, 0).getTime();
    expect(formatRowTime(new Date(2026, 11, 5, 8, 2, 53).getTime(), noon)).toBe('08:02:53');
    expect(formatRowTime(new Date(2026, 11, 4, 23, 59, 59).getTime(), noon)).toBe('Dec 4 23:59:59');
    expect(formatRowTime(new Date(2026, 11, 2, 8, 2, 53).getTime(), noon)).toBe('Dec 2 08:02:53');
    expect(formatRowTime(new Date(2025, 11, 30, 8, 2, 53).getTime(), noon)).toBe('Dec 30 2025 08:02:53');
  });
});

describe('old rows show their day', () => {
  it('in the Requests table', async () => {
    const backend = new FakeBackend();
    const old = NOW - 3 * DAY;
    backend.requests = backend.requests.map((r, i) => (i === 0 ? { ...r, unix_ms: old } : r));
    const id = backend.requests[0].id;
    window.location.hash = '#/requests';
    render(<App bridge={createDesktopBridge(backend.pywebviewApi())} pollIntervalMs={60_000} />);
    const row = await screen.findByTestId(`request-row-${id}`, {}, { timeout: 4_000 });
    await waitFor(() => expect(within(row).getByText(`${day(old)} ${formatClock(old)}`)).toBeTruthy());
    expect(within(row).getByText(`${day(old)} ${formatClock(old)}`)).toBeTruthy();
    const today = backend.requests.find((r) => new Date(r.unix_ms).toDateString() === new Date(NOW).toDateString())!;
    expect(within(screen.getByTestId(`request-row-${today.id}`)).getByText(formatClock(today.unix_ms))).toBeTruthy();
  });

  it("in a session's timeline, which may span days", async () => {
    const backend = new FakeBackend();
    const old = NOW - 2 * DAY;
    const first = backend.requests.filter((r) => r.session_id === SESSION_B).sort((a, b) => a.unix_ms - b.unix_ms)[0];
    backend.requests = backend.requests.map((r) => (r.id === first.id ? { ...r, unix_ms: old } : r));
    window.location.hash = '#/usage';
    render(<App bridge={createDesktopBridge(backend.pywebviewApi())} pollIntervalMs={60_000} />);
    const entry = async (id: number) => {
      const found = await screen.findByTestId('session-timeline', {}, { timeout: 4_000 });
      return found.querySelector(`[data-request-id="${id}"] .tl__time`);
    };
    await waitFor(async () => expect((await entry(first.id))?.textContent).toBe(`${day(old)}${formatClock(old)}`));
    expect((await entry(first.id))?.querySelector('.tl__day')?.textContent).toBe(day(old));
    const today = backend.requests.find((r) => r.session_id === SESSION_B && r.id !== first.id)!;
    expect((await entry(today.id))?.textContent).toBe(formatClock(today.unix_ms));
  });

  it('in the Events list', async () => {
    const status = makeStatus();
    const old = NOW - 2 * DAY;
    status.recent_events = [
      ...status.recent_events,
      { id: 0, unix_ms: old, level: 'error', provider: 'p1', kind: 'request_failed', message: 'old failure', seen: true },
    ];
    await desktopApp(new FakeBackend(status));
    expect(screen.getByTestId('event-0').querySelector('time')?.textContent).toBe(`${day(old)} ${formatClock(old)}`);
    expect(screen.getByTestId('event-3').querySelector('time')?.textContent).toBe(formatClock(NOW - 1000));
  });
});
