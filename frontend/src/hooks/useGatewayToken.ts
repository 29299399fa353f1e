import { useEffect, useState } from 'react';
import { BridgeError, errorMessage, type Bridge } from '../bridge';
import type { ToastApi } from './toasts';

/** The current gateway token, re-read after a rotate. */
export function useGatewayToken(bridge: Bridge, toasts: ToastApi): string | null {
  const [token, setToken] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    let changed = false; // a rotation answered first: the first read's answer is the old token
    bridge.call('get_gateway_token').then(
      (r) => {
        if (live && !changed) setToken(r.token);
      },
      (e: unknown) => {
        // A refused token sends the browser back to the token prompt, which says so itself.
        const refused = e instanceof BridgeError && e.isUnauthorized && bridge.mode === 'browser';
        if (live && !refused) {
          toasts.push({ tone: 'error', title: 'Could not read the gateway token', message: errorMessage(e) });
        }
      },
    );
    const off = bridge.onTokenChange((t) => {
      if (live && t) {
        changed = true;
        setToken(t);
      }
    });
    return () => {
      live = false;
      off();
    };
  }, [bridge, toasts]);
  return token;
}
