import { useEffect, type RefObject } from 'react';

/**
 * Keeps `--header-height` on <html> equal to the sticky header's height (it wraps onto a second row on
 * narrow windows), so `scroll-padding-top` (styles.css) keeps whatever the browser scrolls into view
 * (the control focused with Tab or Shift+Tab, a scrolled-to element) out from under the header.
 */
export function useStickyHeaderPadding(header: RefObject<HTMLElement | null>) {
  useEffect(() => {
    const el = header.current;
    if (!el) return;
    const root = document.documentElement;
    const measure = () => root.style.setProperty('--header-height', `${Math.ceil(el.getBoundingClientRect().height)}px`);
    measure();
    const observer = typeof ResizeObserver === 'function' ? new ResizeObserver(measure) : null;
    observer?.observe(el);
    return () => {
      observer?.disconnect();
      root.style.removeProperty('--header-height');
    };
  }, [header]);
}
