import { useCallback, useEffect, useState } from 'react';
import { BridgeError, errorMessage, type Bridge } from '../bridge';
import type { Status } from '../types';

const TOKEN_REFUSED_MESSAGE = 'That token was refused by the gateway';
// A token this tab held that works no more: changed since (Rotate, the tray, or secrets.json edited by hand).
export const TOKEN_CHANGED_MESSAGE =
  'The gateway no longer accepts the token this tab used: it was changed (rotated, or edited in secrets.json). Enter the current one.';

export type AuthState =
  | { phase: 'checking' }
  | { phase: 'prompt'; message: string | null; busy: boolean; lastToken: string }
  | { phase: 'ready'; status: Status | null };

function describe(e: unknown): string {
  if (e instanceof BridgeError && e.isUnauthorized) return TOKEN_REFUSED_MESSAGE;
  return errorMessage(e);
}

/**
 * Browser mode: ask for the gateway token, verify it with get_status, keep it for the session,
 * and go back to the prompt when the gateway refuses it later. Desktop mode needs no token.
 */
export function useAuth(bridge: Bridge) {
  const [state, setState] = useState<AuthState>(() => {
    if (bridge.mode === 'desktop') return { phase: 'ready', status: null };
    return bridge.getToken() ? { phase: 'checking' } : { phase: 'prompt', message: null, busy: false, lastToken: '' };
  });

  const verify = useCallback(
    async (token: string) => {
      try {
        const status = await bridge.verifyToken(token);
        bridge.setToken(token);
        setState({ phase: 'ready', status });
      } catch (e) {
        const refused = e instanceof BridgeError && e.isUnauthorized;
        if (refused && bridge.getToken() === token) bridge.setToken(null);
        setState({ phase: 'prompt', message: describe(e), busy: false, lastToken: refused ? '' : token });
      }
    },
    [bridge],
  );

  // A remembered token is checked before the dashboard shows.
  const checking = state.phase === 'checking';
  useEffect(() => {
    const stored = bridge.getToken();
    if (!checking || !stored) return;
    let live = true;
    bridge.verifyToken(stored).then(
      (status) => {
        if (live) setState({ phase: 'ready', status });
      },
      (e: unknown) => {
        if (!live) return;
        const refused = e instanceof BridgeError && e.isUnauthorized;
        if (!refused) {
          // Says nothing of the token (the gateway not answering, or answering with an error): the
          // dashboard shows that and goes live by itself once it answers; a refusal then brings the prompt.
          setState({ phase: 'ready', status: null });
          return;
        }
        if (bridge.getToken() === stored) bridge.setToken(null);
        setState({ phase: 'prompt', message: TOKEN_CHANGED_MESSAGE, busy: false, lastToken: '' });
      },
    );
    return () => {
      live = false;
    };
  }, [bridge, checking]);

  useEffect(
    () =>
      bridge.onUnauthorized(() => {
        bridge.setToken(null);
        setState({ phase: 'prompt', message: TOKEN_CHANGED_MESSAGE, busy: false, lastToken: '' });
      }),
    [bridge],
  );

  const submit = useCallback(
    (raw: string) => {
      const token = raw.trim();
      if (!token) {
        setState({ phase: 'prompt', message: 'Enter the gateway token', busy: false, lastToken: '' });
        return Promise.resolve();
      }
      setState({ phase: 'prompt', message: null, busy: true, lastToken: token });
      return verify(token);
    },
    [verify],
  );

  const forget = useCallback(() => {
    bridge.setToken(null);
    setState({ phase: 'prompt', message: null, busy: false, lastToken: '' });
  }, [bridge]);

  return { state, submit, forget };
}
