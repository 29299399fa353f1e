// A toast's dismissal timer must not outlive its provider: a timer firing after the page (or a test's
// environment) is gone set state on it ("window is not defined" once the test environment was torn down).

import { act, fireEvent, render, screen } from '@testing-library/react';
import { useEffect } from 'react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ToastProvider, useToasts, type Toast } from '../src/hooks/toasts';
import { Toasts } from '../src/ui/Toasts';

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

function Pusher() {
  const toasts = useToasts();
  useEffect(() => {
    toasts.push({ tone: 'error', title: 'could not save' });
  }, [toasts]);
  return null;
}

it('clears the timers of its toasts when it unmounts', () => {
  const { unmount } = render(
    <ToastProvider>
      <Pusher />
    </ToastProvider>,
  );
  expect(vi.getTimerCount()).toBeGreaterThan(0);
  unmount();
  expect(vi.getTimerCount()).toBe(0);
});

// --- Keyboard and screen reader use of the toasts --------------------------------------------------

function Harness({ toasts }: { toasts: Array<Omit<Toast, 'id'>> }) {
  const api = useToasts();
  return (
    <main>
      <h1 tabIndex={-1}>Page</h1>
      <button type="button" onClick={() => toasts.forEach((t) => api.push(t))}>
        Do it
      </button>
    </main>
  );
}

function renderToasts(toasts: Array<Omit<Toast, 'id'>>) {
  render(
    <ToastProvider>
      <Harness toasts={toasts} />
      <Toasts />
    </ToastProvider>,
  );
  const origin = screen.getByRole('button', { name: 'Do it' });
  origin.focus();
  fireEvent.click(origin);
  return origin;
}

/** Lets the focus fallback (a microtask after the toast is gone) run. */
const settle = () => act(async () => {});

describe('a dismissed toast does not drop the focus to the page', () => {
  it('names each dismiss button after its toast', () => {
    renderToasts([
      { tone: 'error', title: 'Could not save routing settings', message: 'cooldown_seconds must be positive' },
      { tone: 'error', title: 'Could not test Relay Two', message: 'gateway stopped' },
      { tone: 'error', title: 'Could not test Relay Two', message: 'timed out' },
    ]);
    const names = screen.getAllByRole('button', { name: /^Dismiss/ }).map((b) => b.getAttribute('aria-label'));
    expect(names).toEqual([
      'Dismiss: Could not save routing settings',
      'Dismiss: Could not test Relay Two — gateway stopped',
      'Dismiss: Could not test Relay Two — timed out',
    ]);
  });

  it('hands the focus to the next toast, and back where it was once none is left', async () => {
    const origin = renderToasts([
      { tone: 'info', title: 'First' },
      { tone: 'info', title: 'Second' },
    ]);
    // The keyboard user Tabs from the page into the notifications.
    const first = screen.getByRole('button', { name: 'Dismiss: First' });
    fireEvent.focus(first, { relatedTarget: origin });
    first.focus();
    fireEvent.click(first);
    await settle();
    expect(document.activeElement).toBe(screen.getByRole('button', { name: 'Dismiss: Second' }));
    fireEvent.click(screen.getByRole('button', { name: 'Dismiss: Second' }));
    await settle();
    expect(screen.queryByRole('button', { name: /^Dismiss/ })).toBeNull();
    expect(document.activeElement).toBe(origin);
  });

  it('goes to the page’s heading when it did not come from a control', async () => {
    renderToasts([{ tone: 'error', title: 'Broken' }]);
    act(() => (document.activeElement as HTMLElement).blur());
    const dismiss = screen.getByRole('button', { name: 'Dismiss: Broken' });
    dismiss.focus(); // from the page (a click beside every control), not from the button that pushed it
    fireEvent.click(dismiss);
    await settle();
    expect(document.activeElement).toBe(screen.getByRole('heading', { name: 'Page' }));
  });
});

describe('a toast does not expire while it is being read', () => {
  it('waits while the focus is in it, and goes some time after the focus leaves', async () => {
    const origin = renderToasts([{ tone: 'error', title: 'Could not save', message: 'read me slowly' }]);
    const dismiss = screen.getByRole('button', { name: 'Dismiss: Could not save' });
    act(() => vi.advanceTimersByTime(9_000));
    act(() => dismiss.focus());
    act(() => vi.advanceTimersByTime(60_000));
    expect(screen.getByTestId('toast-error')).toBeTruthy();
    expect(document.activeElement).toBe(dismiss);
    act(() => origin.focus());
    act(() => vi.advanceTimersByTime(1_500));
    expect(screen.getByTestId('toast-error')).toBeTruthy(); // not the moment it is let go
    act(() => vi.advanceTimersByTime(1_000));
    expect(screen.queryByTestId('toast-error')).toBeNull();
  });

  it('waits while the pointer is on it', () => {
    renderToasts([{ tone: 'success', title: 'Saved' }]);
    const toast = screen.getByText('Saved').closest('.toast') as HTMLElement;
    act(() => vi.advanceTimersByTime(2_000));
    fireEvent.pointerOver(toast);
    act(() => vi.advanceTimersByTime(30_000));
    expect(screen.getByText('Saved')).toBeTruthy();
    fireEvent.pointerOut(toast);
    act(() => vi.advanceTimersByTime(2_100));
    expect(screen.queryByText('Saved')).toBeNull();
  });
});


it('keeps five toasts on screen however many are only heard', () => {
  const shown = [1, 2, 3, 4, 5].map((n) => ({ tone: 'error' as const, title: `failure ${n}` }));
  renderToasts([...shown, { tone: 'success', title: 'Copied gateway address', spokenOnly: true }]);
  for (const t of shown) expect(screen.getByText(t.title)).toBeTruthy();
  expect(screen.getByText('Copied gateway address')).toBeTruthy();
});

it('a toast the focus reached by a click (the one before it closed with the mouse) still goes in its time', async () => {
  renderToasts([{ tone: 'error', title: 'first failure' }, { tone: 'error', title: 'second failure' }]);
  const first = screen.getByRole('button', { name: 'Dismiss: first failure' });
  fireEvent.pointerDown(first);
  act(() => first.focus());
  fireEvent.click(first);
  await settle();
  expect(document.activeElement).toBe(screen.getByRole('button', { name: 'Dismiss: second failure' }));
  act(() => vi.advanceTimersByTime(12_000));
  expect(screen.queryByText('second failure')).toBeNull();
});
