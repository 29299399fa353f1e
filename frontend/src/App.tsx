import { useState } from 'react';
import type { Bridge } from './bridge';
import { ConnectCodexDialog } from './features/codex/ConnectCodexDialog';
import { Dashboard } from './features/dashboard/Dashboard';
import { Header } from './features/shell/Header';
import { Toasts } from './ui/Toasts';
import { TokenGate } from './features/auth/TokenGate';
import { UsagePage } from './features/usage/UsagePage';
import { ToastProvider, useToasts } from './hooks/toasts';
import { useActions } from './hooks/useActions';
import { useAuth } from './hooks/useAuth';
import { useGatewayToken } from './hooks/useGatewayToken';
import { useRoute } from './hooks/useRoute';
import { useStatus, type UseStatusOptions } from './hooks/useStatus';
import type { Status } from './types';

const NO_PROVIDERS: string[] = [];

export interface AppProps {
  bridge: Bridge;
  /** Tests shorten the poll. */
  pollIntervalMs?: number;
}

export function App({ bridge, pollIntervalMs }: AppProps) {
  return (
    <ToastProvider>
      <Gate bridge={bridge} pollIntervalMs={pollIntervalMs} />
      <Toasts />
    </ToastProvider>
  );
}

function Gate({ bridge, pollIntervalMs }: AppProps) {
  const { state, submit, forget } = useAuth(bridge);
  if (state.phase !== 'ready') {
    return (
      <TokenGate
        key={state.phase === 'prompt' ? state.message ?? '' : 'checking'}
        checking={state.phase === 'checking'}
        busy={state.phase === 'prompt' && state.busy}
        message={state.phase === 'prompt' ? state.message : null}
        initialToken={state.phase === 'prompt' ? state.lastToken : ''}
        onSubmit={(t) => void submit(t)}
      />
    );
  }
  return (
    <Shell
      bridge={bridge}
      initial={state.status}
      intervalMs={pollIntervalMs}
      onForgetToken={bridge.mode === 'browser' ? forget : undefined}
    />
  );
}

interface ShellProps {
  bridge: Bridge;
  initial: Status | null;
  intervalMs?: number;
  onForgetToken?: () => void;
}

export function Shell({ bridge, initial, intervalMs, onForgetToken }: ShellProps) {
  const opts: UseStatusOptions = { initial };
  if (intervalMs !== undefined) opts.intervalMs = intervalMs;
  const { status, error, refresh, apply } = useStatus(bridge, opts);
  const toasts = useToasts();
  const actions = useActions({ bridge, refresh, apply, toasts });
  const token = useGatewayToken(bridge, actions);
  const route = useRoute();
  const [codexOpen, setCodexOpen] = useState(false);

  return (
    <div className="app">
      <Header
        route={route}
        version={status?.version ?? null}
        connectionError={error ? error.message : null}
        onConnectCodex={() => setCodexOpen(true)}
        onForgetToken={onForgetToken}
      />
      {route === 'usage' ? (
        <UsagePage bridge={bridge} providerOrder={status?.provider_order ?? NO_PROVIDERS} />
      ) : status ? (
        <Dashboard status={status} token={token} actions={actions} refresh={refresh} />
      ) : (
        <main className="placeholder">
          <p className={error ? 'text-bad' : 'muted'} role="status">
            {error ? `Cannot load the status: ${error.message}` : 'Connecting to the gateway…'}
          </p>
        </main>
      )}
      {codexOpen ? <ConnectCodexDialog actions={actions} onClose={() => setCodexOpen(false)} /> : null}
    </div>
  );
}
