import { useCallback, useState } from 'react';

/**
 * `busy` while a task the user started is running (its buttons are soft-disabled meanwhile: `Button`'s
 * `softDisabled`, which keeps their focus), and `whileBusy(task)` to run one: busy from its start until
 * it settles, whatever the outcome.
 */
export function useBusy(): [boolean, <T>(task: () => Promise<T>) => Promise<T>] {
  const [busy, setBusy] = useState(false);
  const whileBusy = useCallback(async <T>(task: () => Promise<T>): Promise<T> => {
    setBusy(true);
    try {
      return await task();
    } finally {
      setBusy(false);
    }
  }, []);
  return [busy, whileBusy];
}
