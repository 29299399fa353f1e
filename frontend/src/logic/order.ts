// Provider ordering. Pure; inputs are never mutated.

import type { ProviderId, Status } from '../types';
import { hasOwn } from './own';

/** Moves the item at `from` to index `to`. Out-of-range moves return the same array. */
export function moveItem<T>(list: readonly T[], from: number, to: number): readonly T[] {
  if (from < 0 || from >= list.length || to < 0 || to >= list.length || from === to) return list;
  const next = list.slice();
  const [item] = next.splice(from, 1);
  next.splice(to, 0, item);
  return next;
}

/** Moves `id` by `delta` places (−1 up, +1 down), clamped to the ends. */
export function moveById(order: readonly ProviderId[], id: ProviderId, delta: number): readonly ProviderId[] {
  const from = order.indexOf(id);
  if (from < 0) return order;
  const to = Math.min(order.length - 1, Math.max(0, from + delta));
  return moveItem(order, from, to);
}

/** Drag and drop: put `dragId` just before or after `targetId`. */
export function dropReorder(
  order: readonly ProviderId[],
  dragId: ProviderId,
  targetId: ProviderId,
  place: 'before' | 'after',
): readonly ProviderId[] {
  if (dragId === targetId || !order.includes(dragId) || !order.includes(targetId)) return order;
  const rest = order.filter((id) => id !== dragId);
  const at = rest.indexOf(targetId) + (place === 'after' ? 1 : 0);
  const next = [...rest.slice(0, at), dragId, ...rest.slice(at)];
  return sameOrder(next, order) ? order : next;
}

export function sameOrder(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** True when `a` holds exactly the ids of `b`, in any order. */
export function isPermutation(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const sa = [...a].sort();
  const sb = [...b].sort();
  return sa.every((v, i) => v === sb[i]);
}

/**
 * Providers in `provider_order`, followed by any provider missing from the order (defensive).
 * Returns the objects from `status` as they are, so unchanged providers keep their identity.
 */
export function orderedProviderIds(status: Pick<Status, 'provider_order' | 'providers'>): ProviderId[] {
  const seen = new Set<string>();
  const out: ProviderId[] = [];
  for (const id of status.provider_order) {
    if (hasOwn(status.providers, id) && !seen.has(id)) {
      seen.add(id);
      out.push(id);
    }
  }
  for (const id of Object.keys(status.providers)) if (!seen.has(id)) out.push(id);
  return out;
}
