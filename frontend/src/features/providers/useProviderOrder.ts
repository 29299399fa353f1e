import { useCallback, useLayoutEffect, useMemo, useRef, useState, type DragEvent } from 'react';
import { dropReorder, isPermutation, moveById, sameOrder } from '../../logic/order';
import type { Actions } from '../../hooks/useActions';
import { revealWhole } from '../shell/useRevealFocus';
import type { ProviderId } from '../../types';

export type DropPlace = 'before' | 'after';
export type DropHint = { id: ProviderId; place: DropPlace } | null;

export interface ProviderOrder {
  /** The order to show: the one being saved (optimistic) while it matches the providers, else the server's. */
  ids: readonly ProviderId[];
  /** Where a dragged row would land. */
  dropHint: DropHint;
  /** Said by a live region after each move. */
  announcement: string;
  /** The table the reorder handles live in (keyboard focus follows the moved provider). */
  tableRef: React.RefObject<HTMLTableElement | null>;
  move: (id: ProviderId, delta: number) => void;
  dragStart: (id: ProviderId, e: DragEvent) => void;
  dragOver: (id: ProviderId, e: DragEvent<HTMLTableRowElement>) => void;
  drop: (id: ProviderId, e: DragEvent) => void;
  dragEnd: () => void;
}

/**
 * Reordering providers by keyboard, by the up/down buttons and by drag and drop. The new order shows
 * at once and is saved with set_provider_order; `describe` names a provider in the announcement.
 */
export function useProviderOrder(
  serverIds: readonly ProviderId[],
  actions: Pick<Actions, 'setProviderOrder'>,
  refresh: () => Promise<void>,
  describe: (id: ProviderId) => string,
): ProviderOrder {
  const [pendingOrder, setPendingOrder] = useState<readonly ProviderId[] | null>(null);
  const [dropHint, setDropHint] = useState<DropHint>(null);
  const [announcement, setAnnouncement] = useState('');
  const ids = pendingOrder && isPermutation(pendingOrder, serverIds) ? pendingOrder : serverIds;

  // Interaction state that never renders: written and read in event handlers and effects only.
  const dragId = useRef<ProviderId | null>(null);
  const lastHint = useRef<DropHint>(null);
  // The provider moved by keyboard or its up/down buttons, from the move until its order is saved and
  // shown; `focus`: its handle is still to be focused.
  const moving = useRef<{ id: ProviderId; focus: boolean } | null>(null);
  const tableRef = useRef<HTMLTableElement>(null);

  const commit = useCallback(
    async (next: readonly ProviderId[], movedId: ProviderId) => {
      if (sameOrder(next, ids)) return;
      setPendingOrder(next);
      setAnnouncement(`${describe(movedId)} moved to position ${next.indexOf(movedId) + 1} of ${next.length}`);
      const r = await actions.setProviderOrder([...next]);
      if (r.ok) await refresh();
      setPendingOrder((cur) => (cur === next ? null : cur));
    },
    [ids, actions, refresh, describe],
  );

  // Keep keyboard focus on the handle of the provider being moved (its row was re-rendered), and the
  // focused handle wholly in view below the sticky header: the row lands a row's height away, under
  // the header or past the window's bottom edge, and the status read after the save can resize the
  // cards above it (the first provider's name). A handle the browser did not have to focus again gets
  // no focus event, so useRevealFocus does not see it move. Done after each render of the move until
  // its order is saved and shown, before the browser paints.
  useLayoutEffect(() => {
    const m = moving.current;
    if (!m) return;
    if (pendingOrder === null) moving.current = null;
    const handle = tableRef.current?.querySelector<HTMLElement>(`[data-reorder-handle="${m.id}"]`);
    if (!handle) return;
    if (m.focus) {
      m.focus = false;
      // Without the browser's own scrolling, which need not be the least distance.
      if (document.activeElement !== handle) handle.focus({ preventScroll: true });
    }
    if (document.activeElement === handle) revealWhole(handle);
  });

  const move = useCallback(
    (id: ProviderId, delta: number) => {
      const next = moveById(ids, id, delta);
      if (sameOrder(next, ids)) return;
      moving.current = { id, focus: true };
      void commit(next, id);
    },
    [ids, commit],
  );

  const clearDrag = useCallback(() => {
    dragId.current = null;
    lastHint.current = null;
    setDropHint(null);
  }, []);

  const dragStart = useCallback((id: ProviderId, e: DragEvent) => {
    dragId.current = id;
    moving.current = null;
    try {
      e.dataTransfer.effectAllowed = 'move';
      e.dataTransfer.setData('text/plain', id);
      const row = (e.currentTarget as HTMLElement).closest('tr');
      if (row && e.dataTransfer.setDragImage) e.dataTransfer.setDragImage(row, 16, 16);
    } catch {
      /* some engines restrict dataTransfer; the ref still carries the id */
    }
  }, []);

  const dragOver = useCallback((id: ProviderId, e: DragEvent<HTMLTableRowElement>) => {
    if (!dragId.current) return;
    e.preventDefault();
    try {
      e.dataTransfer.dropEffect = 'move';
    } catch {
      /* ignore */
    }
    const rect = e.currentTarget.getBoundingClientRect();
    const place: DropPlace = e.clientY < rect.top + rect.height / 2 ? 'before' : 'after';
    const h = lastHint.current;
    if (h && h.id === id && h.place === place) return;
    lastHint.current = { id, place };
    setDropHint(lastHint.current);
  }, []);

  const drop = useCallback(
    (id: ProviderId, e: DragEvent) => {
      const from = dragId.current;
      if (!from) return;
      e.preventDefault();
      const h = lastHint.current;
      const place = h && h.id === id ? h.place : 'before';
      clearDrag();
      void commit(dropReorder(ids, from, id, place), from);
    },
    [ids, commit, clearDrag],
  );

  return useMemo(
    () => ({ ids, dropHint, announcement, tableRef, move, dragStart, dragOver, drop, dragEnd: clearDrag }),
    [ids, dropHint, announcement, move, dragStart, dragOver, drop, clearDrag],
  );
}
