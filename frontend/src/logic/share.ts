// Structural sharing: keep the previous object wherever the new JSON is deeply equal, so React
// sees the same identity for unchanged parts (e.g. one provider's row) and can skip re-rendering.

import { hasOwn, setOwn } from './own';

type Json = unknown;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object') return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/**
 * Returns `next`, except that every sub-tree deeply equal to the matching sub-tree of `prev` is
 * replaced by the one from `prev`. When everything is equal, returns `prev` itself.
 */
export function replaceEqualDeep<T>(prev: T | undefined, next: T): T {
  return share(prev, next) as T;
}

function share(prev: Json, next: Json): Json {
  if (prev === next) return prev;
  const arrays = Array.isArray(prev) && Array.isArray(next);
  if (!arrays && !(isPlainObject(prev) && isPlainObject(next))) return next;

  if (arrays) {
    const p = prev as Json[];
    const n = next as Json[];
    const out = new Array<Json>(n.length);
    let same = p.length === n.length;
    for (let i = 0; i < n.length; i++) {
      out[i] = share(p[i], n[i]);
      if (out[i] !== p[i]) same = false;
    }
    return same ? p : out;
  }

  const p = prev as Record<string, Json>;
  const n = next as Record<string, Json>;
  const pKeys = Object.keys(p);
  const nKeys = Object.keys(n);
  const out: Record<string, Json> = {};
  let same = pKeys.length === nKeys.length;
  for (const k of nKeys) {
    // Own properties only: a key `prev` lacks ("constructor") must not meet Object.prototype's member,
    // and a "__proto__" key (a model name) is an entry, not the object's prototype.
    const had = hasOwn(p, k);
    const shared = share(had ? p[k] : undefined, n[k]);
    setOwn(out, k, shared);
    if (!had || shared !== p[k]) same = false;
  }
  return same ? p : out;
}

/**
 * Array variant keyed by id: an event that moved position (new ones arrive at the top) still keeps
 * its identity when unchanged.
 */
export function shareById<T extends { id: number | string }>(prev: readonly T[] | undefined, next: T[]): T[] {
  if (!prev) return next;
  const byId = new Map(prev.map((item) => [item.id, item]));
  let same = prev.length === next.length;
  const out = next.map((item, i) => {
    const shared = replaceEqualDeep(byId.get(item.id), item);
    if (shared !== prev[i]) same = false;
    return shared;
  });
  return same ? (prev as T[]) : out;
}

/**
 * Shares a new status document with the previous one: unchanged providers, metrics and events
 * keep their object identity (events matched by id, since new ones push old ones down).
 */
export function shareStatus<S extends { recent_events: E[] }, E extends { id: number }>(
  prev: S | null | undefined,
  next: S,
): S {
  if (!prev) return next;
  const shared = replaceEqualDeep(prev, next);
  if (shared === prev) return prev;
  const events = shareById(prev.recent_events, next.recent_events);
  return events === shared.recent_events ? shared : { ...shared, recent_events: events };
}
