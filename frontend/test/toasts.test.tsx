// A toast's dismissal timer must not outlive its provider: a timer firing after the page (or a test's
// environment) is gone set state on it ("window is not defined" once the test environment was torn down).

import { render } from '@testing-library/react';
import { useEffect } from 'react';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { ToastProvider, useToasts } from '../src/hooks/toasts';

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
