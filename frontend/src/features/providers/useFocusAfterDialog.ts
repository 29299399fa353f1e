import { useCallback, useEffect, useRef, type RefObject } from 'react';

/** Where focus goes once a dialog that removed its row (Delete, Rename) has closed. */
export type FocusAfter = { kind: 'heading' } | { kind: 'row'; id: string };

type Pending = FocusAfter & { waiting: boolean };

/** The control a row's Rename opened from: the same one, in the row under its new id. */
function rowControl(section: HTMLElement, id: string): HTMLElement | null {
  const row = Array.from(section.querySelectorAll<HTMLElement>('tr[data-provider-id]')).find((r) => r.dataset.providerId === id);
  return row?.querySelector<HTMLElement>('[data-row-action="rename"]') ?? null;
}

/**
 * A deleted or renamed provider's row goes away when the next status arrives, after its dialog has
 * closed and given focus back to the opener in that row, so focus would fall to <body>. Asked with
 * `focusAfter` before the dialog closes, this moves focus, once it has closed, to the section's
 * heading; for a renamed provider, on to its row's control when that row appears (unless the user
 * has moved focus elsewhere meanwhile).
 */
export function useFocusAfterDialog(
  sectionRef: RefObject<HTMLElement | null>,
  headingRef: RefObject<HTMLElement | null>,
  ids: readonly string[],
  dialogOpen: boolean,
): (target: FocusAfter) => void {
  const pending = useRef<Pending | null>(null);

  useEffect(() => {
    const target = pending.current;
    const section = sectionRef.current;
    const heading = headingRef.current;
    if (!target || dialogOpen || !section || !heading) return;
    if (target.kind === 'row' && ids.includes(target.id)) {
      const control = rowControl(section, target.id);
      const active = document.activeElement;
      // Still where this put it (or lost): on to the row; else the user has gone elsewhere.
      if (control && (!target.waiting || active === heading || active === document.body || active === null)) control.focus();
      pending.current = null;
      return;
    }
    if (!target.waiting) heading.focus(); // runs after the dialog gave focus back to the opener
    pending.current = target.kind === 'row' ? { ...target, waiting: true } : null;
  }, [sectionRef, headingRef, ids, dialogOpen]);

  return useCallback((target: FocusAfter) => {
    pending.current = { ...target, waiting: false };
  }, []);
}
