// A drop-down that chooses one provider by id (the Requests and Events filters): what it offers, how
// it names each option, and whether what it chose is gone. Pure.
//
// `chosen` is null for a drop-down's choices of its own ("All providers", "Gateway"): their values
// are never provider ids, so a provider whose id is "all" is a provider like any other.

import type { ProviderId } from '../types';

/**
 * Whether the chosen id names no provider now (deleted, or renamed by hand in config.toml, which
 * leaves no `renamed` entry to follow), the last one included: an empty list is a configuration with
 * no provider. `configured` is null while it is still loading (no status yet): nothing is gone then.
 */
export function chosenProviderGone(chosen: ProviderId | null, configured: readonly ProviderId[] | null): boolean {
  return chosen !== null && configured !== null && !configured.includes(chosen);
}

/**
 * `ids`, and the chosen id after them when it is not among them: a <select> whose value has no
 * option shows its first one ("All"), while the list is still filtered on something else.
 */
export function withChosenProvider(ids: readonly ProviderId[], chosen: ProviderId | null): ProviderId[] {
  return chosen !== null && !ids.includes(chosen) ? [...ids, chosen] : [...ids];
}

/**
 * An option's text: the provider's name, or its id marked "(not configured)" when no provider has it
 * (not while the provider list is still loading: `configured` null).
 */
export function providerOptionLabel(
  id: ProviderId,
  configured: readonly ProviderId[] | null,
  nameOf: (id: ProviderId) => string,
): string {
  return configured === null || configured.includes(id) ? nameOf(id) : `${nameOf(id)} (not configured)`;
}
