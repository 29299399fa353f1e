import { useMemo } from 'react';
import { namesFromKey, namesKey, providerNames, type NameMap } from '../logic/names';
import type { Status } from '../types';

/** Display names from the status; the same object until a provider is added, renamed or removed. */
export function useProviderNames(status: Status | null): NameMap {
  // Memoised on the names' content (a string), not on `status.providers`, which changes on every poll.
  const key = namesKey(status ? providerNames(status.providers) : {});
  return useMemo(() => namesFromKey(key), [key]);
}
