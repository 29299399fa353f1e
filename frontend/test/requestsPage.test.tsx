// The Requests page (#/requests) against the fake backend's request log (test/fakeUsage.ts).

import { act, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { App } from '../src/App';
import { TOKEN_STORAGE_KEY, createDesktopBridge, createHttpBridge, sessionTokenStore, type Bridge } from '../src/bridge';
import { RequestsPage } from '../src/features/requests/RequestsPage';
import { ToastProvider } from '../src/hooks/toasts';
import type { Actions } from '../src/hooks/useActions';
import { providerNames } from '../src/logic/names';
import { parseRoute } from '../src/logic/route';
import { FakeBackend, FakeError, SESSION_A, SESSION_B, cuttableBrowserBridge, makeStatus } from './fakeBackend';
import { manyRequests } from './fakeUsage';

const NAMES = providerNames(makeStatus().providers);
/** Bounds for waits on a machine shared with other work. */
const SLOW = { timeout: 4_000 };
const lastCall = (b: FakeBackend, method: string) => [...b.calls].reverse().find((c) => c.method === method);
const rowIds = () => screen.queryAllByTestId(/^request-row-/).map((r) => Number(r.dataset.testid!.replace('request-row-', '')));

async function requestsApp(hash = '#/requests', backend = new FakeBackend(), mode: 'desktop' | 'browser' = 'desktop') {
  window.location.hash = hash;
  window.sessionStorage.setItem(TOKEN_STORAGE_KEY, backend.token);
  const bridge =
    mode === 'desktop'
      ? createDesktopBridge(backend.pywebviewApi())
      : createHttpBridge({ fetch: backend.fetch, tokenStore: sessionTokenStore(window.sessionStorage) });
  render(<App bridge={bridge} pollIntervalMs={60_000} />);
  await screen.findByRole('table', { name: 'Requests' }, SLOW);
  return { backend, bridge };
}

/** The app on the Requests page of `count` requests, `pages` pages back from the newest. */
async function onOlderPage(count: number, pages: number): Promise<FakeBackend> {
  const backend = new FakeBackend();
  backend.requests = manyRequests(count);
  await requestsApp('#/requests', backend);
  for (let page = 1; page <= pages; page++) {
    fireEvent.click(screen.getByRole('button', { name: 'Older' }));
    const range = `${(page * 100 + 1).toLocaleString('en-US')}–${((page + 1) * 100).toLocaleString('en-US')} of ${count} matching`;
    await waitFor(() => expect(screen.getByTestId('requests-range').textContent).toBe(range), SLOW);
  }
  return backend;
}

/** The page alone, with a short live re-read and the export action stubbed by the caller. */
function pageOnly(backend: FakeBackend, actions: Pick<Actions, 'exportRequests'>, pollMs = 40) {
  pageOn(createDesktopBridge(backend.pywebviewApi()), actions, pollMs);
}

/** The page alone, on `bridge` (a browser bridge whose network a test can cut). */
function pageOn(bridge: Bridge, actions: Pick<Actions, 'exportRequests'> = { exportRequests: vi.fn() }, pollMs = 40) {
  render(
    <ToastProvider>
      <RequestsPage
        bridge={bridge}
        actions={actions}
        providerOrder={['p1', 'p2', 'p3', 'p4']}
        names={NAMES}
        params={{}}
        onOpenSettings={() => {}}
        pollMs={pollMs}
      />
    </ToastProvider>,
  );
}

afterEach(() => vi.restoreAllMocks());

/** A download's Blob comes from fetch (Node's, which has text()); jsdom's own has none: read it the old way. */
function readBlob(b: Blob): Promise<string> {
  if (typeof b.text === 'function') return b.text();
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(reader.error);
    reader.readAsText(b);
  });
}

describe('Requests page', () => {
  it('is reachable from the header and lists every request newest first, by display name', async () => {
    const { backend } = await requestsApp();
    expect(screen.getByRole('link', { name: 'Requests' }).getAttribute('aria-current')).toBe('page');
    expect(rowIds()).toEqual([10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
    expect(lastCall(backend, 'list_requests')?.args).toEqual({ limit: 100 });
    const failover = within(screen.getByTestId('request-row-3'));
    expect(failover.getByText('Relay Two')).toBeTruthy();
    expect(failover.getByText('gpt-5.5 → openai/gpt-5.5')).toBeTruthy();
    expect(failover.getByText('failover')).toBeTruthy();
    expect(screen.getByTestId('request-row-3').querySelector('[data-col="attempts"]')?.textContent).toBe('2');
    // The "number of attempts" column, headed as such.
    const headers = within(screen.getByRole('table', { name: 'Requests' })).getAllByRole('columnheader');
    expect(headers.map((h) => h.textContent)).toEqual([
      'Time', 'Provider', 'Model', 'Status', 'Latency', 'TTFT', 'Tokens', 'Attempts', 'Session',
    ]);
    expect(screen.getByRole('columnheader', { name: 'Attempts' }).getAttribute('title')).toMatch(/^Number of attempts/);
    expect(within(screen.getByTestId('request-row-6')).getByText('none')).toBeTruthy();
    expect(within(screen.getByTestId('request-row-6')).getByText('502 failed')).toBeTruthy();
    expect(screen.getByTestId('hedged-4')).toBeTruthy();
    expect(screen.getByTestId('requests-range').textContent).toBe('1–10 of 10 matching');
    expect(screen.getByTestId('counting-note-requests').textContent).toMatch(/one request.*several attempts/);
    await waitFor(() => expect(screen.getByTestId('retention').textContent).toMatch(/keeps 30 days, at most 200,000 rows/));
  });

  it('says the new retention as soon as Settings saved it', async () => {
    await requestsApp();
    await waitFor(() => expect(screen.getByTestId('retention').textContent).toMatch(/keeps 30 days/), SLOW);
    fireEvent.click(screen.getByRole('button', { name: 'Change retention…' }));
    const dialog = screen.getByRole('dialog', { name: 'Settings' });
    fireEvent.change(await within(dialog).findByLabelText('Keep requests for (days)'), { target: { value: '45' } });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Save settings' }));
    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull(), SLOW);
    // Not at the next 15 s re-read: at once.
    await waitFor(() => expect(screen.getByTestId('retention').textContent).toMatch(/keeps 45 days, at most 200,000 rows/), {
      timeout: 2_000,
    });
  });

  it('takes its filters from the address and writes them back', async () => {
    const { backend } = await requestsApp('#/requests?provider=p2');
    expect(rowIds()).toEqual([10, 6, 4, 3]); // every request that tried Relay Two, served or not
    expect(lastCall(backend, 'list_requests')?.args).toEqual({ provider: 'p2', limit: 100 });
    expect((screen.getByLabelText('Provider') as HTMLSelectElement).value).toBe('p2');

    fireEvent.change(screen.getByLabelText('Outcome'), { target: { value: 'failover' } });
    await waitFor(() => expect(rowIds()).toEqual([3]));
    expect(parseRoute(window.location.hash).params).toEqual({ provider: 'p2', outcome: 'failover' });

    fireEvent.click(screen.getByRole('button', { name: 'Clear filters' }));
    await waitFor(() => expect(rowIds()).toHaveLength(10));
    expect(window.location.hash).toBe('#/requests');

    // Free text is applied once typing pauses, and goes into the address too.
    fireEvent.change(screen.getByLabelText('Search'), { target: { value: 'ALL PROVIDERS' } });
    expect(rowIds()).toHaveLength(10);
    await waitFor(() => expect(rowIds()).toEqual([6]));
    expect(lastCall(backend, 'list_requests')?.args).toEqual({ text: 'ALL PROVIDERS', limit: 100 });
    expect(parseRoute(window.location.hash).params).toEqual({ q: 'ALL PROVIDERS' });
    // A link to another session replaces what is in the fields.
    act(() => {
      window.location.hash = `#/requests?session=${SESSION_A}`;
      window.dispatchEvent(new HashChangeEvent('hashchange'));
    });
    await waitFor(() => expect(rowIds()).toEqual([5, 4, 3, 2]));
    expect((screen.getByLabelText('Search') as HTMLInputElement).value).toBe('');
    expect((screen.getByLabelText('Session') as HTMLInputElement).value).toBe(SESSION_A);
  });

  it('opens a request into its attempt chain, with sizes and copy buttons', async () => {
    await requestsApp();
    const toggle = within(screen.getByTestId('request-row-3')).getByRole('button', { name: /, open request req_0003$/ });
    fireEvent.click(toggle);
    expect(toggle.getAttribute('aria-expanded')).toBe('true');
    const detail = await screen.findByRole('group', { name: 'Request req_0003' });
    const chain = await within(detail).findByRole('table', { name: 'Attempts of request req_0003' });
    const attempts = within(chain).getAllByTestId(/^attempt-3-/);
    expect(attempts.map((a) => a.dataset.outcome)).toEqual(['provider_failure', 'ok']);
    expect(attempts[0].textContent).toContain('Relay One');
    expect(attempts[0].textContent).toContain('502');
    expect(attempts[0].textContent).toContain('HTTP 502: bad gateway');
    expect(attempts[1].textContent).toContain('openai/gpt-5.5');
    expect(within(detail).getByTestId('request-sizes-3').textContent).toBe('request 41.0 KB · response 5.1 KB');
    expect(within(detail).getByRole('button', { name: 'Copy request id' })).toBeTruthy();
    expect(within(detail).getByRole('button', { name: 'Copy the error of attempt 1' })).toBeTruthy();
    expect(within(detail).getByRole('link', { name: SESSION_A }).getAttribute('href')).toBe(`#/usage?session=${SESSION_A}`);

    const writeText = vi.fn(async () => {});
    Object.defineProperty(navigator, 'clipboard', { value: { writeText }, configurable: true });
    await act(async () => fireEvent.click(within(detail).getByRole('button', { name: 'Copy the error of attempt 1' })));
    expect(writeText).toHaveBeenCalledWith('HTTP 502: bad gateway');

    // The failed request: its error in full with a copy button.
    fireEvent.click(within(screen.getByTestId('request-row-6')).getByRole('button', { name: /, open request req_0006$/ }));
    const failed = await screen.findByRole('group', { name: 'Request req_0006' });
    expect(within(failed).getByTestId('request-error-6').textContent).toBe('all providers failed');
    expect(within(failed).getByRole('button', { name: 'Copy error' })).toBeTruthy();
    fireEvent.click(toggle);
    expect(screen.queryByRole('group', { name: 'Request req_0003' })).toBeNull();
  });

  it('says it is not updating while the gateway does not answer, and is live again after', async () => {
    const { network, bridge } = cuttableBrowserBridge(new FakeBackend());
    pageOn(bridge);
    await waitFor(() => expect(screen.getByTestId('requests-live').textContent).toMatch(/Live · updates/), SLOW);
    network.down = true;
    await waitFor(() => expect(screen.getByTestId('requests-live').textContent).toMatch(/^Not updating: the gateway is not answering/), SLOW);
    network.down = false;
    await waitFor(() => expect(screen.getByTestId('requests-live').textContent).toMatch(/Live/), SLOW);
  });

  it('does not say "Live" beside an error the gateway answered with, and is live again after', async () => {
    const backend = new FakeBackend();
    const { bridge } = cuttableBrowserBridge(backend);
    pageOn(bridge);
    await waitFor(() => expect(screen.getByTestId('requests-live').textContent).toMatch(/Live · updates/), SLOW);
    const answer = backend.handle.bind(backend);
    let broken = true; // every read fails until it is mended: no poll can slip between the two checks
    backend.handle = (method, args) => {
      if (broken && method === 'list_requests') throw new FakeError('the request log cannot be read');
      return answer(method, args);
    };
    await waitFor(() => expect(screen.getByRole('alert').textContent).toMatch(/the request log cannot be read/), SLOW);
    expect(screen.getByTestId('requests-live').textContent).toMatch(/^Not updating: the gateway answered with an error/);
    broken = false;
    await waitFor(() => expect(screen.getByTestId('requests-live').textContent).toMatch(/Live · updates/), SLOW);
  });

  it('is not live once the status poll finds the gateway not answering, before its own next read', async () => {
    const { network, bridge } = cuttableBrowserBridge(new FakeBackend());
    window.location.hash = '#/requests';
    render(<App bridge={bridge} pollIntervalMs={40} />);
    await waitFor(() => expect(screen.getByTestId('requests-live').textContent).toMatch(/Live · updates every 2 s/), SLOW);
    network.down = true;
    await waitFor(() => expect(screen.getByTestId('connection').textContent).toBe('Gateway not answering · retrying'), SLOW);
    expect(screen.getByTestId('requests-live').textContent).toMatch(/^Not updating: the gateway is not answering/);
    network.down = false;
    await waitFor(() => expect(screen.getByTestId('requests-live').textContent).toMatch(/Live/), SLOW);
  });

  it('says so when no provider was asked, instead of an empty attempt table', async () => {
    const backend = new FakeBackend();
    backend.requests = backend.requests.map((r) => (r.id === 6 ? { ...r, attempts: [] } : r));
    await requestsApp('#/requests', backend);
    fireEvent.click(within(screen.getByTestId('request-row-6')).getByRole('button', { name: /, open request req_0006$/ }));
    const failed = await screen.findByRole('group', { name: 'Request req_0006' });
    expect((await within(failed).findByTestId('no-attempts-6')).textContent).toMatch(/^No provider was asked/);
    expect(within(failed).queryByRole('table')).toBeNull();
  });

  // A slow machine shared with other work: generous bounds (the fake filters 100,000 rows per call).
  it('pages through 100,000 requests 100 at a time', { timeout: 20_000 }, async () => {
    const backend = new FakeBackend();
    backend.requests = manyRequests(100_000);
    await requestsApp('#/requests', backend);
    expect(screen.getAllByTestId(/^request-row-/)).toHaveLength(100);
    expect(rowIds()[0]).toBe(100_999);
    expect(screen.getByTestId('requests-range').textContent).toBe('1–100 of 100,000 matching');
    expect(screen.getByTestId('requests-live').textContent).toMatch(/Live/);

    fireEvent.click(screen.getByRole('button', { name: 'Older' }));
    await waitFor(() => expect(rowIds()[0]).toBe(100_899), SLOW);
    expect(lastCall(backend, 'list_requests')?.args).toEqual({ limit: 100, before_id: 100_900 });
    expect(screen.getByTestId('requests-range').textContent).toBe('101–200 of 100,000 matching');
    expect(screen.getByTestId('requests-live').textContent).toBe('Paused on an older page');
    fireEvent.click(screen.getByRole('button', { name: 'Older' }));
    await waitFor(() => expect(rowIds()[0]).toBe(100_799), SLOW);
    fireEvent.click(screen.getByRole('button', { name: 'Newer' }));
    await waitFor(() => expect(rowIds()[0]).toBe(100_899), SLOW);
    fireEvent.click(screen.getByRole('button', { name: 'Newest' }));
    await waitFor(() => expect(rowIds()[0]).toBe(100_999), SLOW);
    expect(screen.getAllByTestId(/^request-row-/)).toHaveLength(100);
  });

  it('goes to the oldest of 100,000 requests in one step, and climbs back up from there', { timeout: 20_000 }, async () => {
    const backend = new FakeBackend();
    backend.requests = manyRequests(100_000);
    await requestsApp('#/requests', backend);
    const button = (name: string) => screen.getByRole('button', { name });
    const range = () => screen.getByTestId('requests-range').textContent;
    fireEvent.click(button('Oldest'));
    await waitFor(() => expect(range()).toBe('99,901–100,000 of 100,000 matching'), SLOW);
    expect(lastCall(backend, 'list_requests')?.args).toEqual({ limit: 100, oldest: true });
    expect([rowIds()[0], rowIds()[99]]).toEqual([1_099, 1_000]);
    expect(screen.getByTestId('requests-live').textContent).toBe('Paused on an older page');
    expect(button('Older').getAttribute('aria-disabled')).toBe('true');
    expect(button('Oldest').getAttribute('aria-disabled')).toBe('true');
    fireEvent.click(button('Newer'));
    await waitFor(() => expect(range()).toBe('99,801–99,900 of 100,000 matching'), SLOW);
    expect(lastCall(backend, 'list_requests')?.args).toEqual({ limit: 100, after_id: 1_099 });
    expect(rowIds()[0]).toBe(1_199);
    expect(button('Oldest').getAttribute('aria-disabled')).toBeNull();
    fireEvent.click(button('Older'));
    await waitFor(() => expect(range()).toBe('99,901–100,000 of 100,000 matching'), SLOW);
    fireEvent.click(button('Newest'));
    await waitFor(() => expect(range()).toBe('1–100 of 100,000 matching'), SLOW);
    // One page down, Newer is the live newest page again.
    fireEvent.click(button('Older'));
    await waitFor(() => expect(range()).toBe('101–200 of 100,000 matching'), SLOW);
    fireEvent.click(button('Newer'));
    await waitFor(() => expect(screen.getByTestId('requests-live').textContent).toMatch(/Live/), SLOW);
    expect(range()).toBe('1–100 of 100,000 matching');
  });

  it('finds the oldest requests left from a page whose requests were removed', async () => {
    const backend = await onOlderPage(250, 1);
    const newest = Math.max(...backend.requests.map((r) => r.id));
    backend.requests = backend.requests.filter((r) => r.id > newest - 120);
    fireEvent.click(screen.getByRole('button', { name: 'Older' }));
    await screen.findByText(/no longer in the log/, undefined, SLOW);
    // The requests just newer than the ones removed are the oldest left.
    fireEvent.click(screen.getByRole('button', { name: 'Newer' }));
    await waitFor(() => expect(screen.getByTestId('requests-range').textContent).toBe('21–120 of 120 matching'), SLOW);
    expect(lastCall(backend, 'list_requests')?.args).toEqual({ limit: 100, oldest: true });
  });

  it('steps from no page while the next one is on its way: Newer and Older wait for it', async () => {
    const backend = await onOlderPage(600, 2);
    const reads = () => backend.calls.filter((c) => c.method === 'list_requests').length;
    backend.delayMs.list_requests = 400;
    const before = reads();
    fireEvent.click(screen.getByRole('button', { name: 'Older' }));
    expect(screen.getByRole('button', { name: 'Newer' }).getAttribute('aria-disabled')).toBe('true');
    fireEvent.click(screen.getByRole('button', { name: 'Newer' }));
    fireEvent.click(screen.getByRole('button', { name: 'Older' }));
    await waitFor(() => expect(screen.getByTestId('requests-range').textContent).toBe('301–400 of 600 matching'), SLOW);
    expect(reads()).toBe(before + 1); // neither a jump to the newest nor the same page read twice
  });

  it('an older page that could not be read: Older asks for it again, Newer goes back to the newest', async () => {
    const backend = new FakeBackend();
    backend.requests = manyRequests(250);
    await requestsApp('#/requests', backend);
    const newest = rowIds();
    const reads = () => backend.calls.filter((c) => c.method === 'list_requests').length;
    backend.failNext.list_requests = new FakeError('database is locked', 500, 'server_error');
    fireEvent.click(screen.getByRole('button', { name: 'Older' }));
    expect((await screen.findByRole('alert', undefined, SLOW)).textContent).toMatch(/^Could not load the requests: .*database is locked/);
    expect(rowIds()).toEqual([]); // not the newest page's rows, as if they were this one's
    const before = reads();
    fireEvent.click(screen.getByRole('button', { name: 'Older' }));
    await waitFor(() => expect(screen.getByTestId('requests-range').textContent).toBe('101–200 of 250 matching'), SLOW);
    expect(reads()).toBe(before + 1);
    backend.failNext.list_requests = new FakeError('database is locked', 500, 'server_error');
    fireEvent.click(screen.getByRole('button', { name: 'Older' }));
    await screen.findByRole('alert', undefined, SLOW);
    fireEvent.click(screen.getByRole('button', { name: 'Newer' }));
    await waitFor(() => expect(screen.getByTestId('requests-live').textContent).toMatch(/Live/), SLOW);
    await waitFor(() => expect(rowIds()).toEqual(newest), SLOW);
  });

  it("a filter the gateway refuses shows why, not the rows of the filters before it", async () => {
    const backend = new FakeBackend();
    backend.requests = manyRequests(250);
    await requestsApp('#/requests', backend);
    const handle = backend.handle.bind(backend);
    backend.handle = (method, args = {}) => {
      if (method === 'list_requests' && typeof args.text === 'string' && args.text.length > 1000) {
        throw new FakeError('text must be at most 1000 characters'); // as the gateway says it
      }
      return handle(method, args);
    };
    fireEvent.change(screen.getByLabelText('Search'), { target: { value: 'x'.repeat(1001) } });
    expect((await screen.findByRole('alert', undefined, SLOW)).textContent).toMatch(/^Could not load the requests: .*1000 characters/);
    expect(rowIds()).toEqual([]);
  });

  it('says when the requests of an older page were removed by the retention rules meanwhile', async () => {
    const backend = await onOlderPage(250, 1);
    const newest = Math.max(...backend.requests.map((r) => r.id));
    backend.requests = backend.requests.filter((r) => r.id > newest - 120); // the oldest cut while it was read
    fireEvent.click(screen.getByRole('button', { name: 'Older' }));
    await screen.findByText(/no longer in the log: the retention rules removed them/, undefined, SLOW);
    expect(screen.queryByText('No requests match.')).toBeNull();
    expect(screen.getByTestId('requests-range').textContent).toBe('120 matching');
    fireEvent.click(screen.getByRole('button', { name: 'Newest' }));
    await waitFor(() => expect(rowIds()[0]).toBe(newest), SLOW);
  });

  it('says so above a request kept open on an older page whose other requests were removed', async () => {
    const backend = await onOlderPage(350, 2);
    const kept = rowIds()[0];
    fireEvent.click(within(screen.getByTestId(`request-row-${kept}`)).getAllByRole('button')[0]);
    fireEvent.click(screen.getByRole('button', { name: 'Newer' }));
    await waitFor(() => expect(screen.getByTestId('requests-range').textContent).toBe('101–200 of 350 matching'));
    const newest = Math.max(...backend.requests.map((r) => r.id));
    backend.requests = backend.requests.filter((r) => r.id > newest - 150);
    fireEvent.click(screen.getByRole('button', { name: 'Older' }));
    expect((await screen.findByTestId('requests-cut-away', undefined, SLOW)).textContent).toMatch(/no longer in the log/);
    expect(rowIds()).toEqual([kept]);
  });

  it('goes back to the newest, live page when the filters change, and stays there when they change back', async () => {
    const backend = new FakeBackend();
    backend.requests = manyRequests(250);
    await requestsApp('#/requests', backend);
    fireEvent.click(screen.getByRole('button', { name: 'Older' }));
    await waitFor(() => expect(screen.getByTestId('requests-live').textContent).toBe('Paused on an older page'));
    fireEvent.change(screen.getByLabelText('Outcome'), { target: { value: 'ok' } });
    await waitFor(() => expect(screen.getByTestId('requests-live').textContent).toMatch(/Live/));
    fireEvent.change(screen.getByLabelText('Outcome'), { target: { value: '' } });
    await waitFor(() => expect(screen.getByTestId('requests-range').textContent).toBe('1–100 of 250 matching'));
    expect(screen.getByTestId('requests-live').textContent).toMatch(/Live/);
    expect(rowIds()[0]).toBe(Math.max(...backend.requests.map((r) => r.id)));
  });

  it('shows new requests on the first page by itself', async () => {
    const backend = new FakeBackend();
    pageOnly(backend, { exportRequests: vi.fn() });
    await waitFor(() => expect(rowIds()[0]).toBe(10));
    backend.requests = [...backend.requests, { ...backend.requests[0], id: 11, request_id: 'req_0011' }];
    await waitFor(() => expect(rowIds()[0]).toBe(11));
  });

  it('keeps a request open where it is read when newer requests push it off the live page', async () => {
    const backend = new FakeBackend();
    backend.requests = manyRequests(100);
    pageOnly(backend, { exportRequests: vi.fn() });
    await waitFor(() => expect(rowIds()).toHaveLength(100));
    const oldest = Math.min(...rowIds());
    const toggle = within(screen.getByTestId(`request-row-${oldest}`)).getByRole('button', { name: /, open request / });
    toggle.focus();
    fireEvent.click(toggle);
    const close = within(screen.getByTestId(`request-row-${oldest}`)).getByRole('button', { name: /, close request / });
    expect(document.activeElement).toBe(close);
    const second = Math.min(...rowIds().filter((id) => id !== oldest));
    within(screen.getByTestId(`request-row-${second}`)).getByRole('button', { name: /, open request / }).focus();
    const newer = manyRequests(102).slice(-2).map((r, i) => ({ ...r, id: 5000 + i, request_id: `req_new_${i}` }));
    backend.requests = [...backend.requests, ...newer];
    await waitFor(() => expect(rowIds()[0]).toBe(5001));
    // The open one stays, at the end, open, with its focus; the closed one pushed off went, and with it
    // the focus it held — to the list, not to <body>.
    expect(rowIds()).toHaveLength(101);
    expect(rowIds().at(-1)).toBe(oldest);
    expect(rowIds()).not.toContain(second);
    expect(screen.getByTestId(`request-row-${oldest}`).getAttribute('class')).toMatch(/rrow--open/);
    expect(screen.getByTestId('requests-range').textContent).toBe('1–100 of 102 matching');
    await waitFor(() => expect(document.activeElement).toBe(screen.getByRole('region', { name: 'Request list' })));
    // Closed, it goes; the focus it had goes to the list.
    within(screen.getByTestId(`request-row-${oldest}`)).getByRole('button', { name: /, close request / }).focus();
    fireEvent.click(within(screen.getByTestId(`request-row-${oldest}`)).getByRole('button', { name: /, close request / }));
    expect(rowIds()).not.toContain(oldest);
    await waitFor(() => expect(document.activeElement).toBe(screen.getByRole('region', { name: 'Request list' })));
  });

  it('exports the filtered rows as CSV and JSONL through a Blob link in the browser', async () => {
    const { backend } = await requestsApp('#/requests?provider=p1', new FakeBackend(), 'browser');
    const blobs: Blob[] = [];
    const created = vi.fn((b: Blob) => {
      blobs.push(b);
      return `blob:fake/${blobs.length}`;
    });
    Object.defineProperty(URL, 'createObjectURL', { value: created, configurable: true });
    Object.defineProperty(URL, 'revokeObjectURL', { value: vi.fn(), configurable: true });
    const clicks: { href: string; download: string }[] = [];
    vi.spyOn(HTMLAnchorElement.prototype, 'click').mockImplementation(function (this: HTMLAnchorElement) {
      clicks.push({ href: this.href, download: this.download });
    });

    fireEvent.click(screen.getByRole('button', { name: 'Export CSV' }));
    await screen.findByText('Exported 7 requests');
    expect(lastCall(backend, 'export_requests')?.args).toEqual({ format: 'csv', provider: 'p1' });
    expect(clicks).toEqual([{ href: 'blob:fake/1', download: 'api-router-requests.csv' }]);
    expect(blobs[0].type).toBe('text/csv');
    expect((await readBlob(blobs[0])).split('\n')[0]).toBe('id,request_id,provider,status');

    fireEvent.click(screen.getByRole('button', { name: 'Export JSONL' }));
    await waitFor(() => expect(clicks).toHaveLength(2));
    const lines = (await readBlob(blobs[1])).trim().split('\n').map((l) => JSON.parse(l) as { provider: string });
    expect(lines).toHaveLength(7);
    // Requests that tried Relay One: served by it, failed over from it, or failed everywhere.
    expect(new Set(lines.map((l) => l.provider))).toEqual(new Set(['p1', 'p2', null]));
  });

  it('saves exports through the save dialog in the desktop window and says where', async () => {
    const { backend } = await requestsApp('#/requests?provider=p1');
    const clicked = vi.spyOn(HTMLAnchorElement.prototype, 'click');
    fireEvent.click(screen.getByRole('button', { name: 'Export CSV' }));
    await screen.findByText('Exported 7 requests');
    expect(screen.getByText('/home/user/Downloads/api-router-requests.csv')).toBeTruthy();
    expect(backend.saved.map((s) => s.filename)).toEqual(['api-router-requests.csv']);
    expect(backend.saved[0].content.split('\n')[0]).toBe('id,request_id,provider,status');
    expect(clicked).not.toHaveBeenCalled(); // no Blob link: the engine may drop it

    // Cancelled in the dialog: nothing saved, nothing claimed.
    backend.saveTo = null;
    fireEvent.click(screen.getByRole('button', { name: 'Export JSONL' }));
    await waitFor(() => expect(lastCall(backend, 'export_requests')?.args).toEqual({ format: 'jsonl', provider: 'p1' }));
    await waitFor(() => expect(screen.getByRole('button', { name: 'Export JSONL' }).hasAttribute('disabled')).toBe(false));
    expect(screen.getAllByText(/^Exported /)).toHaveLength(1);
    expect(backend.saved).toHaveLength(1);

    // The app could not write the file: the reason, in full.
    backend.saveTo = '/home/user/Downloads';
    backend.failNext.save_export = new FakeError('could not save /home/user/Downloads/x.csv: Permission denied', 400);
    fireEvent.click(screen.getByRole('button', { name: 'Export CSV' }));
    await screen.findByText('Could not export the requests');
    expect(screen.getByText('could not save /home/user/Downloads/x.csv: Permission denied')).toBeTruthy();
  });
});

describe('Usage page links', () => {
  it('opens the session named in the address, with column headers and a link back to its requests', async () => {
    window.location.hash = `#/usage?session=${SESSION_A}`;
    const backend = new FakeBackend();
    render(<App bridge={createDesktopBridge(backend.pywebviewApi())} pollIntervalMs={60_000} />);
    const timeline = await screen.findByTestId('session-timeline');
    await waitFor(() => expect(timeline.dataset.sessionId).toBe(SESSION_A));
    expect(screen.getByTestId(`session-row-${SESSION_A}`).getAttribute('aria-pressed')).toBe('true');
    const head = timeline.querySelector('.tl__head')!;
    expect([...head.children].map((c) => c.textContent)).toEqual(['#', 'Time', 'Provider', 'Model', 'Status', 'Latency', 'TTFB', 'Tokens', '']);
    expect(within(screen.getByTestId('timeline-entry-2')).getByText('gpt-5.5 → openai/gpt-5.5')).toBeTruthy();
    expect(within(timeline).getByRole('link', { name: 'see them on the Requests page' }).getAttribute('href')).toBe(
      `#/requests?session=${SESSION_A}`,
    );
    expect(screen.getByTestId('counting-note-usage').textContent).toMatch(/counts attempts/);
    const table = screen.getByRole('table', { name: 'Usage by provider' });
    expect(within(table).getByText('Relay One')).toBeTruthy();
  });

  it('brings the linked session into view only once the charts above it have loaded', async () => {
    const chartsAtScroll: boolean[] = [];
    const scrollIntoView = vi.fn(function (this: Element) {
      chartsAtScroll.push(screen.queryByRole('table', { name: 'Usage by provider' }) !== null);
    });
    Object.defineProperty(Element.prototype, 'scrollIntoView', { value: scrollIntoView, configurable: true });
    try {
      const backend = new FakeBackend();
      backend.delayMs.get_analytics = 300; // the timeline comes first, the charts that push it down after
      window.location.hash = `#/usage?session=${SESSION_A}`;
      render(<App bridge={createDesktopBridge(backend.pywebviewApi())} pollIntervalMs={60_000} />);
      await waitFor(() => expect(screen.getByTestId('session-timeline').dataset.sessionId).toBe(SESSION_A));
      await waitFor(() => expect(chartsAtScroll).toEqual([true]), { timeout: 3_000 });
    } finally {
      delete (Element.prototype as { scrollIntoView?: unknown }).scrollIntoView;
    }
  });

  it('brings the linked session into view once, not when another one is picked', async () => {
    const scrolled: Element[] = [];
    const scrollIntoView = vi.fn(function (this: Element) {
      scrolled.push(this);
    });
    Object.defineProperty(Element.prototype, 'scrollIntoView', { value: scrollIntoView, configurable: true });
    try {
      window.location.hash = `#/usage?session=${SESSION_A}`;
      render(<App bridge={createDesktopBridge(new FakeBackend().pywebviewApi())} pollIntervalMs={60_000} />);
      const timeline = await screen.findByTestId('session-timeline');
      await waitFor(() => expect(timeline.dataset.sessionId).toBe(SESSION_A));
      await waitFor(() => expect(scrolled).toHaveLength(1));
      expect(scrolled[0].contains(timeline)).toBe(true);
      fireEvent.click(screen.getByTestId(`session-row-${SESSION_B}`));
      await waitFor(() => expect(screen.getByTestId('session-timeline').dataset.sessionId).toBe(SESSION_B));
      expect(scrolled).toHaveLength(1);
    } finally {
      delete (Element.prototype as { scrollIntoView?: unknown }).scrollIntoView;
    }
  });
});

describe('Requests page after a provider is renamed', () => {
  const ORDER = ['p1', 'p2', 'p3', 'p4'];
  function renamablePage(backend: FakeBackend, params: Record<string, string>) {
    const bridge = createDesktopBridge(backend.pywebviewApi());
    const page = (order: string[] | null, names: Record<string, string>, renamed: Record<string, string> = {}) => (
      <ToastProvider>
        <RequestsPage
          bridge={bridge}
          actions={{ exportRequests: vi.fn() } as never}
          providerOrder={order}
          names={names}
          renamed={renamed}
          params={params}
          onOpenSettings={() => {}}
          pollMs={60_000}
        />
      </ToastProvider>
    );
    return { bridge, page };
  }
  const without = (names: Record<string, string>, id: string) => Object.fromEntries(Object.entries(names).filter(([k]) => k !== id));

  it('reads an open attempt chain again, so it names the provider and not its old id', async () => {
    const backend = new FakeBackend();
    const { bridge, page } = renamablePage(backend, {});
    const view = render(page(ORDER, NAMES));
    await screen.findByTestId('request-row-3', undefined, SLOW);
    fireEvent.click(within(screen.getByTestId('request-row-3')).getByRole('button', { name: /, open request req_0003$/ }));
    const chain = await screen.findByRole('table', { name: 'Attempts of request req_0003' }, SLOW);
    expect(within(chain).getAllByTestId(/^attempt-3-/)[0].textContent).toContain('Relay One');

    await bridge.call('rename_provider', { provider: 'p1', new_id: 'relay_one' });
    view.rerender(page(['relay_one', 'p2', 'p3', 'p4'], { ...without(NAMES, 'p1'), relay_one: 'Relay One' }));
    await waitFor(() => {
      const first = within(screen.getByRole('table', { name: 'Attempts of request req_0003' })).getAllByTestId(/^attempt-3-/)[0];
      expect(first.textContent).toContain('Relay One');
    }, SLOW);
  });

  it('follows a provider filter to the renamed provider: the same rows, its name in the drop-down', async () => {
    window.location.hash = '#/requests?provider=p2';
    const backend = new FakeBackend();
    const { bridge, page } = renamablePage(backend, { provider: 'p2' });
    const view = render(page(ORDER, NAMES));
    await screen.findByTestId('request-row-3', undefined, SLOW);
    const before = rowIds();

    await bridge.call('rename_provider', { provider: 'p2', new_id: 'relay_two' });
    const names = { ...without(NAMES, 'p2'), relay_two: 'Relay Two' };
    view.rerender(page(['p1', 'relay_two', 'p3', 'p4'], names, (await bridge.call('get_status', {})).renamed));
    const select = screen.getByLabelText('Provider') as HTMLSelectElement;
    expect(select.value).toBe('relay_two');
    expect(select.selectedOptions[0].textContent).toBe('Relay Two');
    await waitFor(() => expect(lastCall(backend, 'list_requests')?.args).toMatchObject({ provider: 'relay_two' }), SLOW);
    await waitFor(() => expect(rowIds()).toEqual(before), SLOW);
    expect(window.location.hash).toBe('#/requests?provider=relay_two');
    expect(screen.queryByTestId('requests-provider-gone')).toBeNull();
  });

  it('can filter on a provider whose id is "all": "All providers" is the empty value, no id', async () => {
    const backend = new FakeBackend();
    const { page } = renamablePage(backend, { provider: 'all' });
    render(page(['p1', 'all'], { ...NAMES, all: 'Everything Relay' }));
    const select = screen.getByLabelText('Provider') as HTMLSelectElement;
    expect(select.value).toBe('all');
    expect(select.selectedOptions[0].textContent).toBe('Everything Relay');
    expect([...select.options].map((o) => o.value)).toEqual(['', 'p1', 'all']);
    await waitFor(() => expect(lastCall(backend, 'list_requests')?.args).toMatchObject({ provider: 'all' }), SLOW);
    expect(screen.queryByTestId('requests-provider-gone')).toBeNull();
  });

  it('says so when the filtered provider is gone and no rename leads anywhere', async () => {
    const backend = new FakeBackend();
    const { page } = renamablePage(backend, { provider: 'p2' });
    render(page(['p1', 'p3', 'p4'], without(NAMES, 'p2')));
    expect((await screen.findByTestId('requests-provider-gone', undefined, SLOW)).textContent).toMatch(/No provider has the id p2 now/);
    const select = screen.getByLabelText('Provider') as HTMLSelectElement;
    expect(select.selectedOptions[0].textContent).toBe('p2 (not configured)');
  });

  it('says so when the filtered provider was the last one, once the provider list has arrived', async () => {
    const backend = new FakeBackend();
    const { page } = renamablePage(backend, { provider: 'p1' });
    const view = render(page(null, {})); // no status yet: the list is not known to be empty
    await screen.findByTestId('request-row-3', undefined, SLOW);
    const select = screen.getByLabelText('Provider') as HTMLSelectElement;
    expect(select.value).toBe('p1');
    expect(select.selectedOptions[0].textContent).toBe('p1');
    expect(screen.queryByTestId('requests-provider-gone')).toBeNull();

    view.rerender(page([], {})); // every provider deleted
    expect(screen.getByTestId('requests-provider-gone').textContent).toMatch(/No provider has the id p1 now/);
    expect(select.selectedOptions[0].textContent).toBe('p1 (not configured)');
  });

  it('says so for an id no provider ever had when none is configured, and not while the status loads', async () => {
    const backend = new FakeBackend();
    const bridge = createDesktopBridge(backend.pywebviewApi());
    for (const provider of [...backend.state.provider_order]) await bridge.call('delete_provider', { provider });
    expect(backend.state.provider_order).toEqual([]);
    backend.delayMs.get_status = 1_500;
    await requestsApp('#/requests?provider=ghost', backend);
    expect(lastCall(backend, 'list_requests')?.args).toMatchObject({ provider: 'ghost' });
    expect(screen.queryByTestId('requests-provider-gone')).toBeNull(); // the status has not arrived yet
    expect((await screen.findByTestId('requests-provider-gone', undefined, { timeout: 5_000 })).textContent).toMatch(
      /No provider has the id ghost now/,
    );
    expect((screen.getByLabelText('Provider') as HTMLSelectElement).selectedOptions[0].textContent).toBe('ghost (not configured)');
  });
});

describe('a request row’s button', () => {
  it('has a name that starts with the time it shows (a speech user says what they see)', async () => {
    await requestsApp();
    const button = within(screen.getByTestId('request-row-3')).getByRole('button', { expanded: false });
    const shown = button.textContent ?? '';
    expect(shown).toMatch(/\d\d:\d\d:\d\d$/);
    expect(button.getAttribute('aria-label')).toBe(`${shown}, open request req_0003`);
  });
});
