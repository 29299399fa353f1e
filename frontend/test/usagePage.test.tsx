// The Usage page (#/usage) against the fake backend's seeded request log (test/fakeUsage.ts):
// totals, per-provider numbers, rendered recharts charts, and the session timeline.

import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { App } from '../src/App';
import { createDesktopBridge } from '../src/bridge';
import { FakeBackend, FakeError, SESSION_A, SESSION_B, cuttableBrowserBridge } from './fakeBackend';

async function usagePage(backend = new FakeBackend()) {
  window.location.hash = '#/usage';
  const bridge = createDesktopBridge(backend.pywebviewApi());
  render(<App bridge={bridge} pollIntervalMs={60_000} />);
  await screen.findByTestId('usage-overall-requests');
  return { backend };
}

const text = (id: string) => screen.getByTestId(id).textContent;
const cell = (id: string, col: string) =>
  screen.getByTestId(`usage-provider-row-${id}`).querySelector(`[data-col="${col}"]`)?.textContent;
const lastCall = (b: FakeBackend, method: string) => [...b.calls].reverse().find((c) => c.method === method);

describe('Usage page', () => {
  it('replaces the placeholder and is reachable from the header', async () => {
    await usagePage();
    expect(screen.getByRole('link', { name: 'Usage' }).getAttribute('aria-current')).toBe('page');
    expect(screen.getByRole('heading', { level: 1, name: 'Usage' })).toBeTruthy();
    expect(screen.queryByText('Usage analytics arrive with the usage issue.')).toBeNull();
  });

  it('shows the last day by default: totals, percentiles and per-provider numbers', async () => {
    const { backend } = await usagePage();
    expect(lastCall(backend, 'get_analytics')?.args).toEqual({ window: 'day' });
    const group = screen.getByRole('group', { name: 'Time window' });
    expect(within(group).getByRole('button', { name: 'Last day' }).getAttribute('aria-pressed')).toBe('true');

    expect(text('usage-overall-requests')).toBe('9');
    expect(text('usage-overall-errors')).toBe('1');
    expect(text('usage-overall-input-tokens')).toBe('40k');
    const input = screen.getByTestId('usage-overall-input-tokens').parentElement!;
    expect(input.getAttribute('title')).toBe('40,000 tokens');
    expect(input.querySelector('.sr-only')?.textContent).toBe('40,000'); // what a screen reader says
    expect(text('usage-overall-output-tokens')).toBe('4k');
    expect(text('usage-overall-cached-tokens')).toBe('8k');
    expect(text('usage-overall-reasoning-tokens')).toBe('600');
    expect(text('usage-overall-total-tokens')).toBe('44k');
    expect(text('usage-overall-latency')).toBe('900 ms / 2.5 s / 2.5 s');
    expect(text('usage-overall-ttfb')).toBe('300 ms / 900 ms / 900 ms');

    const table = screen.getByRole('table', { name: 'Usage by provider' });
    expect(within(table).getAllByTestId(/^usage-provider-row-/).map((r) => r.dataset.providerId)).toEqual(['p1', 'p2', 'p3']);
    expect(cell('p1', 'requests')).toBe('7');
    expect(cell('p1', 'errors')).toBe('2');
    expect(cell('p1', 'total_tokens')).toBe('20,900');
    expect(cell('p1', 'latency_p50')).toBe('800 ms');
    expect(cell('p1', 'latency_p90')).toBe('1 s');
    expect(cell('p2', 'ttfb_p99')).toBe('700 ms');
    expect(cell('p3', 'input_tokens')).toBe('10,000');
  });

  it('switches windows', async () => {
    const { backend } = await usagePage();
    fireEvent.click(screen.getByRole('button', { name: 'Last hour' }));
    await waitFor(() => expect(text('usage-overall-requests')).toBe('8'));
    expect(lastCall(backend, 'get_analytics')?.args).toEqual({ window: 'hour' });
    expect(screen.getByRole('button', { name: 'Last hour' }).getAttribute('aria-pressed')).toBe('true');
    expect(text('usage-overall-total-tokens')).toBe('33k');
    expect(screen.queryByTestId('usage-provider-row-p3')).toBeNull(); // 3 h ago: not in the last hour

    fireEvent.click(screen.getByRole('button', { name: 'Last 30 days' }));
    await waitFor(() => expect(text('usage-overall-requests')).toBe('10'));
    expect(text('usage-overall-total-tokens')).toBe('66k');
  });

  it("a window that could not be read says so, and shows no other window's figures as its own", async () => {
    const { backend } = await usagePage();
    await waitFor(() => expect(text('usage-updated')).toMatch(/^Updated /));
    backend.failNext.get_analytics = new FakeError('database is locked', 500, 'server_error');
    fireEvent.click(screen.getByRole('button', { name: 'Last hour' }));
    expect((await screen.findByRole('alert')).textContent).toMatch(/^Could not load the analytics: .*database is locked/);
    expect(screen.queryByTestId('usage-overall-requests')).toBeNull();
    expect(text('usage-updated')).not.toBe('Loading…');
  });

  it('renders the charts with recharts', async () => {
    await usagePage();
    const tokens = screen.getByTestId('usage-chart-tokens');
    expect(within(tokens).getByText('Tokens over time')).toBeTruthy();
    await waitFor(() => expect(tokens.querySelectorAll('svg .recharts-bar-rectangle').length).toBeGreaterThan(0));
    const requests = screen.getByTestId('usage-chart-requests');
    expect(requests.querySelectorAll('svg .recharts-bar-rectangle').length).toBeGreaterThan(0);
    expect(requests.querySelector('svg .recharts-line')).not.toBeNull();
    const latency = screen.getByTestId('usage-chart-latency');
    // p1, p2, p3 × p50/p90/p99
    expect(latency.querySelectorAll('svg .recharts-bar-rectangle').length).toBe(9);
    fireEvent.click(within(latency).getByRole('button', { name: 'TTFB' }));
    expect(within(latency).getByRole('button', { name: 'TTFB' }).getAttribute('aria-pressed')).toBe('true');
    expect(latency.querySelectorAll('svg .recharts-bar-rectangle').length).toBe(9);
  });

  it('cuts long provider names under the latency bars to their slot, the whole name in the title', async () => {
    const backend = new FakeBackend();
    const long = (n: number) => `Relay ${n}, Azure East US production deployment, backup ${n}`.padEnd(60, 'x');
    for (const [i, id] of ['p1', 'p2', 'p3'].entries()) backend.state.providers[id].display_name = long(i + 1);
    await usagePage(backend);
    const latency = screen.getByTestId('usage-chart-latency');
    const ticks = await waitFor(() => {
      const found = [...latency.querySelectorAll('.chart__name-tick')];
      expect(found).toHaveLength(3);
      return found;
    });
    ticks.forEach((tick, i) => {
      expect(long(i + 1)).toHaveLength(60);
      expect(tick.querySelector('title')?.textContent).toBe(long(i + 1));
      const shown = tick.querySelector('text')?.textContent ?? '';
      expect(shown).toMatch(/^Relay \d, .+…$/);
      expect(long(i + 1).startsWith(shown.slice(0, -1).trimEnd())).toBe(true);
      // 560 px wide in jsdom, less the value axis: about 165 px a provider, ~6.8 px a character.
      expect(shown.length).toBeLessThan(25);
    });
  });

  it('shows the newest session, then any picked one, with failovers and switches marked', async () => {
    await usagePage();
    const newest = await screen.findByTestId(`session-row-${SESSION_B}`);
    expect(newest.getAttribute('aria-pressed')).toBe('true');
    const list = screen.getByRole('list', { name: 'Recent sessions' });
    expect(within(list).getAllByRole('button').map((b) => b.dataset.testid)).toEqual([
      `session-row-${SESSION_B}`,
      `session-row-${SESSION_A}`,
      'session-row-old-session',
    ]);

    const first = await screen.findByTestId('timeline-entry-1');
    expect(first.textContent).toContain('no provider');
    expect(first.textContent).toContain('502');
    expect(first.textContent).toContain('Relay One failed (HTTP 503) after 300 ms: HTTP 503: overloaded');
    expect(first.textContent).toContain('Relay Two failed (HTTP 500) after 350 ms: HTTP 500: internal error');
    expect(first.textContent).toContain('all providers failed');
    expect(text('timeline-entry-2')).not.toContain('switched'); // nobody served before it

    fireEvent.click(screen.getByTestId(`session-row-${SESSION_A}`));
    await waitFor(() => expect(screen.getByTestId('session-timeline').dataset.sessionId).toBe(SESSION_A));
    expect(screen.getByTestId(`session-row-${SESSION_A}`).getAttribute('aria-pressed')).toBe('true');
    const entries = screen.getAllByTestId(/^timeline-entry-/);
    expect(entries.map((e) => [e.dataset.provider, e.dataset.failover, e.dataset.switched])).toEqual([
      ['p1', 'false', 'false'],
      ['p2', 'true', 'true'],
      ['p2', 'false', 'false'],
      ['p1', 'false', 'true'],
    ]);
    const failover = screen.getByTestId('timeline-entry-2');
    expect(within(failover).getByText('failover')).toBeTruthy();
    expect(within(failover).getByText('switched from Relay One')).toBeTruthy();
    expect(failover.textContent).toContain('Relay One failed (HTTP 502) after 400 ms: HTTP 502: bad gateway');
    expect(failover.textContent).toContain('6.6k');
    expect(within(screen.getByTestId('timeline-entry-4')).getByText('switched from Relay Two')).toBeTruthy();
    // The provider each session is on, by name, in the list and over the timeline.
    expect(within(screen.getByTestId(`session-row-${SESSION_A}`)).getByTestId('session-provider').textContent).toBe(
      'on Relay One',
    );
    expect(screen.getByTestId('timeline-provider').textContent).toBe(' on Relay One');
    expect(screen.getByText('Provider', { selector: '.tl__head span' })).toBeTruthy();
    // The column headers are a table's: a screen reader (or getByRole) sees columns, rows and cells.
    const table = within(screen.getByTestId('session-timeline')).getByRole('table', { name: /^Requests of session / });
    expect(within(table).getAllByRole('columnheader').map((h) => h.textContent || h.getAttribute('aria-label'))).toEqual([
      '#', 'Time', 'Provider', 'Model', 'Status', 'Latency', 'TTFB', 'Tokens', 'Marks',
    ]);
    const rows = within(table).getAllByRole('row');
    expect(rows[0].className).toContain('tl__head');
    const cells = within(within(failover).getAllByRole('row')[0]).getAllByRole('cell');
    expect(cells.map((c) => c.textContent)).toEqual(expect.arrayContaining(['#2', 'Relay Two']));
    expect(cells).toHaveLength(9);
    // Its failed attempt is a row of its own, one cell across the columns.
    const more = within(failover).getAllByRole('row')[1];
    expect(within(more).getByRole('cell').getAttribute('aria-colspan')).toBe('9');
    expect(more.textContent).toContain('Relay One failed (HTTP 502)');
  });

  it('tells a session bound to its provider from one only served by it last', async () => {
    const backend = new FakeBackend();
    backend.releasedSessions.add(SESSION_A); // idle past the return time, or moved by a lock
    await usagePage(backend);
    const bound = await screen.findByTestId(`session-row-${SESSION_B}`);
    expect(within(bound).getByTestId('session-provider').textContent).toBe('on Relay One');
    expect(bound.title).toContain('\nBound to Relay One');
    const released = screen.getByTestId(`session-row-${SESSION_A}`);
    expect(within(released).getByTestId('session-provider').textContent).toBe('last on Relay One');
    expect(released.title).toContain('\nLast served by Relay One');
    expect(released.title).not.toContain('Bound to');
    fireEvent.click(released);
    await waitFor(() => expect(screen.getByTestId('session-timeline').dataset.sessionId).toBe(SESSION_A));
    const over = screen.getByTestId('timeline-provider');
    expect(over.textContent).toBe(' last on Relay One');
    expect(over.title).toBe('Last served by Relay One');
  });

  it('reads again within seconds once the gateway answers again, not at the next 30 s poll', async () => {
    // The gateway restarting: the header is "Live" again at once, and so is this page.
    const backend = new FakeBackend();
    const { network, bridge } = cuttableBrowserBridge(backend);
    network.down = true;
    window.location.hash = '#/usage';
    render(<App bridge={bridge} pollIntervalMs={60_000} />);
    expect((await screen.findByText(/^Could not load the analytics: /, {}, { timeout: 4_000 })).textContent).toMatch(/Cannot reach/);
    network.down = false;
    await waitFor(() => expect(text('usage-overall-requests')).toBe('9'), { timeout: 4_000 });
    expect(screen.queryByText(/^Could not load the analytics/)).toBeNull();
  });

  it('asks again at the usual interval after an error the gateway answered with', async () => {
    const backend = new FakeBackend();
    backend.failNext.get_analytics = new FakeError('window must be one of: hour, day, month');
    window.location.hash = '#/usage';
    render(<App bridge={createDesktopBridge(backend.pywebviewApi())} pollIntervalMs={60_000} />);
    await screen.findByRole('alert');
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expect(backend.methods().filter((m) => m === 'get_analytics')).toHaveLength(1); // asking again changes nothing
  });

  it('says so when the analytics cannot be loaded, and recovers on refresh', async () => {
    const backend = new FakeBackend();
    backend.failNext.get_analytics = new FakeError('window must be one of: hour, day, month');
    window.location.hash = '#/usage';
    render(<App bridge={createDesktopBridge(backend.pywebviewApi())} pollIntervalMs={60_000} />);
    expect((await screen.findByRole('alert')).textContent).toBe(
      'Could not load the analytics: window must be one of: hour, day, month',
    );
    fireEvent.click(screen.getByRole('button', { name: 'Refresh analytics' }));
    await waitFor(() => expect(text('usage-overall-requests')).toBe('9'));
    expect(screen.queryByRole('alert')).toBeNull();
  });

  it('keeps the last numbers when a refresh fails', async () => {
    const { backend } = await usagePage();
    backend.failNext.get_analytics = new FakeError('database is locked');
    fireEvent.click(screen.getByRole('button', { name: 'Refresh analytics' }));
    expect((await screen.findByRole('alert')).textContent).toContain('showing the last ones');
    expect(text('usage-overall-requests')).toBe('9');
  });

  it('says the sessions are loading, or could not be loaded, instead of claiming there are none', async () => {
    const backend = new FakeBackend();
    backend.delayMs.list_sessions = 300;
    window.location.hash = '#/usage';
    const view = render(<App bridge={createDesktopBridge(backend.pywebviewApi())} pollIntervalMs={60_000} />);
    expect(await screen.findByText('Loading sessions…')).toBeTruthy();
    expect(screen.queryByText('No Codex sessions recorded yet.')).toBeNull();
    await screen.findByRole('list', { name: 'Recent sessions' });
    expect(screen.queryByText('Loading sessions…')).toBeNull();
    view.unmount();

    const failing = new FakeBackend();
    failing.failNext.list_sessions = new FakeError('database is locked');
    window.location.hash = '#/usage';
    render(<App bridge={createDesktopBridge(failing.pywebviewApi())} pollIntervalMs={60_000} />);
    expect((await screen.findByText(/^Could not load the sessions/)).textContent).toContain('database is locked');
    expect(screen.queryByText('No Codex sessions recorded yet.')).toBeNull();
    expect(screen.queryByText('Loading sessions…')).toBeNull();
  });

  it('shows an empty state without traffic or sessions', async () => {
    const backend = new FakeBackend();
    backend.requests = [];
    window.location.hash = '#/usage';
    render(<App bridge={createDesktopBridge(backend.pywebviewApi())} pollIntervalMs={60_000} />);
    await waitFor(() => expect(text('usage-overall-requests')).toBe('0'));
    expect(within(screen.getByTestId('usage-chart-tokens')).getByText('No requests in this window')).toBeTruthy();
    expect(await screen.findByText('No Codex sessions recorded yet.')).toBeTruthy();
  });
});

describe('Usage page after a rename', () => {
  it('reads the analytics again at once, so past rows are named by the provider, not an old id', async () => {
    const backend = new FakeBackend();
    window.location.hash = '#/usage';
    const bridge = createDesktopBridge(backend.pywebviewApi());
    // The dashboard's status poll is quick here; the page's own re-reads (every 30 s) are not.
    render(<App bridge={bridge} pollIntervalMs={100} />);
    await screen.findByTestId('usage-provider-row-p2');
    const reads = () => backend.calls.filter((c) => c.method === 'get_analytics').length;
    await new Promise((r) => setTimeout(r, 400)); // a few status polls: the provider list arriving is no rename
    expect(reads()).toBe(1);
    const before = reads();
    backend.handle('rename_provider', { provider: 'p2', new_id: 'backup' });
    await waitFor(() => expect(screen.getByTestId('usage-provider-row-backup')).toBeTruthy(), { timeout: 3000 });
    expect(reads()).toBeGreaterThan(before);
    expect(screen.queryByTestId('usage-provider-row-p2')).toBeNull();
    expect(within(screen.getByTestId('usage-provider-row-backup')).getByText('Relay Two')).toBeTruthy();
  });
});
