import { useEffect, useState } from 'react';
import type { Bridge } from '../bridge';
import type { Actions } from './useActions';

/** The current gateway token, re-read after a rotate. */
export function useGatewayToken(bridge: Bridge, actions: Actions): string | null {
  const [token, setToken] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    void actions.getGatewayToken().then((r) => {
      if (live && r.ok) setToken(r.value.token);
    });
    const off = bridge.onTokenChange((t) => {
      if (live && t) setToken(t);
    });
    return () => {
      live = false;
      off();
    };
  }, [bridge, actions]);
  return token;
}
