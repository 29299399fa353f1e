import { useCallback, useLayoutEffect, useRef, type RefCallback } from 'react';

/**
 * A ref for an element that may go away under the keyboard focus — a live re-read drops its row, a
 * status removes its button. When it unmounts holding the focus (itself or an element inside it), the
 * focus goes to `fallback()` rather than falling to <body>, where the next Tab starts over at the top
 * of the page. (Unless something else has taken the focus meanwhile.)
 */
export function useFocusFallback<T extends HTMLElement>(fallback: () => HTMLElement | null | undefined): RefCallback<T> {
  const latest = useRef(fallback);
  useLayoutEffect(() => {
    latest.current = fallback;
  });
  return useCallback((element: T | null) => {
    if (!element) return undefined;
    // React calls this before it removes the element: whether it holds the focus can still be seen.
    return () => {
      if (!element.contains(document.activeElement)) return;
      queueMicrotask(() => {
        const active = document.activeElement;
        if (active && active !== document.body) return;
        latest.current()?.focus();
      });
    };
  }, []);
}
