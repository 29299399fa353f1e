import { useCallback, useState } from 'react';
import type { Actions } from '../../hooks/useActions';
import type { ProviderId } from '../../types';
import type { ProbeState } from './ProbeResult';

export interface Probes {
  /** The last probe per provider (loading, result or error) until closed. */
  byId: Record<ProviderId, ProbeState>;
  probe: (id: ProviderId) => void;
  close: (id: ProviderId) => void;
}

/** `probe_provider` runs per provider, each shown inline until closed or the provider goes away. */
export function useProbes(actions: Pick<Actions, 'probeProvider'>): Probes {
  const [byId, setById] = useState<Record<ProviderId, ProbeState>>({});

  const probe = useCallback(
    (id: ProviderId) => {
      setById((s) => ({ ...s, [id]: { loading: true } }));
      void actions.probeProvider(id).then((r) =>
        setById((s) => ({
          ...s,
          [id]: r.ok ? { loading: false, result: r.value } : { loading: false, error: r.error.message },
        })),
      );
    },
    [actions],
  );

  const close = useCallback(
    (id: ProviderId) =>
      setById((s) => {
        if (!(id in s)) return s;
        const { [id]: _closed, ...rest } = s;
        return rest;
      }),
    [],
  );

  return { byId, probe, close };
}
