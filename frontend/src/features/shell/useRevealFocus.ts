import { useEffect } from 'react';

/**
 * Brings the focused control wholly into view. Browsers scroll a focused control into view only when
 * it is out of sight, and WebKitGTK (the desktop window) leaves one that is partly in sight where it
 * is: at 720×480 a field Tab reaches could stay a few pixels under the window's bottom edge or a
 * dialog's button bar. A control cut by any box that scrolls it (or by the window) is scrolled the
 * least distance that shows it whole; `scroll-padding-top` keeps that below the sticky header.
 */
export function useRevealFocus() {
  useEffect(() => {
    let frame = 0;
    const reveal = (event: FocusEvent) => {
      const el = event.target;
      if (!(el instanceof HTMLElement) || el === document.body) return;
      cancelAnimationFrame(frame);
      // After the browser's own scrolling for the focus, which would otherwise move it again.
      frame = requestAnimationFrame(() => {
        if (document.activeElement === el) revealWhole(el);
      });
    };
    document.addEventListener('focusin', reveal);
    return () => {
      cancelAnimationFrame(frame);
      document.removeEventListener('focusin', reveal);
    };
  }, []);
}

/**
 * Scrolls `el` the least distance that shows it whole when the window (below the sticky header) or a
 * box that scrolls it cuts it; leaves it where it is when it is wholly in view. For a focused control
 * that moved without being focused again (a provider row reordered by keyboard), which no focus event
 * brings into view.
 */
export function revealWhole(el: HTMLElement): void {
  if (isCut(el)) el.scrollIntoView({ block: 'nearest', inline: 'nearest' });
}

/** Whether part of `el` lies outside the window (below the sticky header) or a box that scrolls it. */
export function isCut(el: HTMLElement): boolean {
  const r = el.getBoundingClientRect();
  const header = parseFloat(getComputedStyle(document.documentElement).getPropertyValue('--header-height')) || 0;
  // The header covers the page, not itself or a dialog (which lies above it).
  if (r.bottom > window.innerHeight || (r.top < header && !el.closest('header, .modal-backdrop'))) return true;
  for (let box = el.parentElement; box && box !== document.body; box = box.parentElement) {
    const overflow = getComputedStyle(box).overflowY;
    if (overflow !== 'auto' && overflow !== 'scroll') continue;
    const b = box.getBoundingClientRect();
    if (r.top < b.top || r.bottom > b.bottom) return true;
  }
  return false;
}
