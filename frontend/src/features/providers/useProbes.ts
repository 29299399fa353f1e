import { useCallback } from 'react';
import type { Actions } from '../../hooks/useActions';
import type { Probe, ProviderId } from '../../types';
import type { ProbeState } from './ProbeResult';
import { useResultsById } from './useResultsById';

export interface Probes {
  /** The last probe per provider (loading, result or error) until closed. */
  byId: Record<ProviderId, ProbeState>;
  probe: (id: ProviderId) => void;
  close: (id: ProviderId) => void;
}

/** `probe_provider` runs per provider, each shown inline until closed or the provider goes away. */
export function useProbes(actions: Pick<Actions, 'probeProvider'>): Probes {
  const { byId, start, finish, close } = useResultsById<Probe>();
  const probe = useCallback(
    (id: ProviderId) => {
      const run = start([id]);
      void actions.probeProvider(id).then((r) => finish(run, { [id]: r }));
    },
    [actions, start, finish],
  );
  return { byId, probe, close };
}
