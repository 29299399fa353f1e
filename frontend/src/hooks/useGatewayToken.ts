import { useEffect, useState } from 'react';
import { BridgeError, errorMessage, type Bridge } from '../bridge';
import type { ToastApi } from './toasts';

/**
 * The current gateway token, re-read after a rotate. A read the gateway did not answer (or answered with
 * an error, as a page opened while it restarts) is tried again once `gatewayAnswers` (a status poll got
 * its answer): the header says meanwhile that it does not, so no notification does too.
 */
export function useGatewayToken(bridge: Bridge, toasts: ToastApi, gatewayAnswers: boolean): string | null {
  const [token, setToken] = useState<string | null>(null);
  const [read, setRead] = useState(0); // bumped to read again
  const [again, setAgain] = useState(false); // the last read failed for want of an answer
  useEffect(() => {
    let live = true;
    let changed = false; // a rotation answered first: the first read's answer is the old token
    bridge.call('get_gateway_token').then(
      (r) => {
        if (live && !changed) setToken(r.token);
      },
      (e: unknown) => {
        if (!live) return;
        // A refused token sends the browser back to the token prompt, which says so itself.
        if (e instanceof BridgeError && e.isUnauthorized && bridge.mode === 'browser') return;
        if (e instanceof BridgeError && (e.kind === 'network' || e.kind === 'server')) setAgain(true);
        else toasts.push({ tone: 'error', title: 'Could not read the gateway token', message: errorMessage(e) });
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
  }, [bridge, toasts, read]);
  // Adjusted while rendering (as React's docs do for state that follows a prop), not in an effect.
  if (again && gatewayAnswers) {
    setAgain(false);
    setRead(read + 1);
  }
  return token;
}
