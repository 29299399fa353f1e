// Providers are shown by display name; ids appear only where they are edited and as a small
// secondary label in the providers table. Pure.

import type { ProviderId } from '../types';
import { own, setOwn } from './own';

/** Display name per provider id; a name two providers share gets its id appended ("Relay (p2)"). */
export type NameMap = Readonly<Record<ProviderId, string>>;

export function providerNames(providers: Readonly<Record<ProviderId, { display_name: string }>>): NameMap {
  const base: Record<ProviderId, string> = {};
  const seen = new Map<string, number>();
  for (const [id, p] of Object.entries(providers)) {
    const name = p.display_name.trim() || id;
    setOwn(base, id, name);
    seen.set(name, (seen.get(name) ?? 0) + 1);
  }
  const out: Record<ProviderId, string> = {};
  for (const [id, name] of Object.entries(base)) setOwn(out, id, (seen.get(name) ?? 0) > 1 && name !== id ? `${name} (${id})` : name);
  return out;
}

/** The name to show for `id`; providers no longer configured (still in logs) show their id. */
export function nameOf(names: NameMap, id: ProviderId | null | undefined, none = '—'): string {
  if (id === null || id === undefined || id === '') return none;
  return own(names, id) ?? id;
}

/**
 * The display name in `name` (what nameOf gave), without the " (id)" that tells apart providers
 * sharing a name; null when the provider has no display name of its own (`name` is its id). For
 * text that names the id as well, so that it says it once.
 */
export function nameWithoutId(name: string, id: ProviderId): string | null {
  if (name === id) return null;
  const suffix = ` (${id})`;
  return name.endsWith(suffix) ? name.slice(0, -suffix.length) : name;
}

/** A stable key for memoising on the names' content rather than the object's identity. */
export function namesKey(names: NameMap): string {
  return Object.entries(names)
    .map(([id, name]) => `${id}\u0000${name}`)
    .join('\u0001');
}

/** The names back from `namesKey()`. */
export function namesFromKey(key: string): NameMap {
  const out: Record<ProviderId, string> = {};
  if (!key) return out;
  for (const pair of key.split('\u0001')) {
    const cut = pair.indexOf('\u0000');
    setOwn(out, pair.slice(0, cut), pair.slice(cut + 1));
  }
  return out;
}

/** Whether an id of `before` is missing from `after` (a provider renamed or deleted between the two). */
export function idsGone(before: readonly ProviderId[], after: readonly ProviderId[]): boolean {
  const now = new Set(after);
  return before.some((id) => !now.has(id));
}

/**
 * The id `id` stands for now: itself while it is configured (or names nothing), else the configured id
 * the status's `renamed` map leads it to — a renamed provider's past requests are filed under its new
 * id. A provider deleted, or renamed by hand in config.toml (which moves none of its history), keeps its id.
 */
export function followRenames(
  id: ProviderId,
  configured: readonly ProviderId[],
  renamed: Readonly<Record<ProviderId, ProviderId>>,
): ProviderId {
  const to = id && !configured.includes(id) ? own(renamed, id) : undefined;
  return to !== undefined && configured.includes(to) ? to : id;
}
