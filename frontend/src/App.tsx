import { useCallback, useMemo, useRef, useState } from 'react';
import type { Bridge } from './bridge';
import { TokenGate } from './features/auth/TokenGate';
import { ConnectCodexDialog } from './features/codex/ConnectCodexDialog';
import { useCodexSetup } from './features/codex/useCodexSetup';
import { Dashboard } from './features/dashboard/Dashboard';
import { RequestsPage } from './features/requests/RequestsPage';
import { SettingsDialog } from './features/settings/SettingsDialog';
import { Header } from './features/shell/Header';
import { useRevealFocus } from './features/shell/useRevealFocus';
import { useStickyHeaderPadding } from './features/shell/useStickyHeaderPadding';
import { UsagePage } from './features/usage/UsagePage';
import type { RoutingFormKeeper, RoutingFormMemory } from './features/routing/useRoutingForm';
import { ToastProvider, useToasts } from './hooks/toasts';
import { useActions } from './hooks/useActions';
import { useAuth } from './hooks/useAuth';
import { useGatewayToken } from './hooks/useGatewayToken';
import { useProviderNames } from './hooks/useProviderNames';
import { useRoute } from './hooks/useRoute';
import { useStatus, type UseStatusOptions } from './hooks/useStatus';
import type { Status } from './types';
import { Toasts } from './ui/Toasts';
import { ViewBoundary } from './ui/ViewBoundary';

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

const SHELL_RETRY_MS = 2_000;

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
    // The shell itself: started over after a failure, its reads with it (not with the status it failed on).
    <ViewBoundary retryMs={SHELL_RETRY_MS}>
      {(attempt) => (
        <Shell
          bridge={bridge}
          initial={attempt === 0 ? state.status : null}
          intervalMs={pollIntervalMs}
          onForgetToken={bridge.mode === 'browser' ? forget : undefined}
        />
      )}
    </ViewBoundary>
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
  const names = useProviderNames(status);
  const actions = useActions({ bridge, refresh, apply, toasts, names });
  const token = useGatewayToken(bridge, toasts, status !== null && error === null);
  const route = useRoute();
  const codex = useCodexSetup(bridge, actions.inline);
  const [codexOpen, setCodexOpen] = useState(false);
  const [settingsOpen, setSettingsOpen] = useState(false);
  // Counts saves of the Settings dialog: the Requests page's retention sentence reads the settings again.
  const [settingsSaved, setSettingsSaved] = useState(0);
  const noteSettingsSaved = useCallback(() => setSettingsSaved((n) => n + 1), []);
  // The Routing card's unsaved edits outlive the dashboard while another page is shown.
  const [routingKept, keepRouting] = useState<RoutingFormMemory | null>(null);
  const routingMemory = useMemo<RoutingFormKeeper>(() => ({ kept: routingKept, keep: keepRouting }), [routingKept]);
  const { reload: reloadCodex } = codex;
  const { rotateGatewayToken } = actions;

  const openCodex = useCallback(() => {
    setCodexOpen(true);
    void reloadCodex();
  }, [reloadCodex]);
  const openSettings = useCallback(() => setSettingsOpen(true), []);

  // The backend rewrites Codex's auth.json when Connect Codex wrote it; read where Codex stands now.
  const rotateToken = useCallback(async () => {
    const r = await rotateGatewayToken();
    if (r.ok) await reloadCodex();
    return r;
  }, [rotateGatewayToken, reloadCodex]);

  const providerOrder = status?.provider_order ?? NO_PROVIDERS;
  const headerRef = useRef<HTMLElement>(null);
  useStickyHeaderPadding(headerRef);
  useRevealFocus();

  return (
    <div className="app">
      <Header
        ref={headerRef}
        page={route.page}
        version={status?.version ?? null}
        connectionError={error ? error.message : null}
        unreachable={error?.kind === 'network'}
        codexState={codex.state}
        onConnectCodex={openCodex}
        onSettings={openSettings}
        onForgetToken={onForgetToken}
      />
      {route.page === 'usage' ? (
        <UsagePage bridge={bridge} providerOrder={providerOrder} names={names} params={route.params} />
      ) : route.page === 'requests' ? (
        <RequestsPage
          bridge={bridge}
          actions={actions}
          providerOrder={status ? status.provider_order : null}
          names={names}
          renamed={status?.renamed}
          params={route.params}
          onOpenSettings={openSettings}
          settingsSaved={settingsSaved}
          nowMs={status?.now_unix_ms}
          gatewayUnreachable={error?.kind === 'network'}
        />
      ) : status ? (
        <Dashboard
          bridge={bridge}
          status={status}
          names={names}
          token={token}
          actions={actions}
          refresh={refresh}
          onRotateToken={rotateToken}
          stale={error?.kind === 'network'}
          routingMemory={routingMemory}
        />
      ) : (
        <main className="placeholder">
          <p className={error ? 'text-bad' : 'muted'} role="status">
            {error ? `Cannot load the status: ${error.message}` : 'Connecting to the gateway…'}
          </p>
        </main>
      )}
      {codexOpen ? <ConnectCodexDialog codex={codex} onClose={() => setCodexOpen(false)} /> : null}
      {settingsOpen ? (
        <SettingsDialog actions={actions.inline} onClose={() => setSettingsOpen(false)} onSaved={noteSettingsSaved} />
      ) : null}
    </div>
  );
}
