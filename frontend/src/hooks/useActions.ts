import { useMemo } from 'react';
import { BridgeError, errorMessage, type Bridge } from '../bridge';
import { refreshOutcome } from '../logic/usage';
import type { ArgsOf, MethodName, ProviderId, ResultOf, RoutingUpdate, Status, UpsertProviderArgs } from '../types';
import type { ToastApi } from './toasts';

export type ActionResult<T> = { ok: true; value: T } | { ok: false; error: BridgeError };

interface Deps {
  bridge: Bridge;
  refresh: () => Promise<void>;
  apply: (s: Status) => void;
  toasts: ToastApi;
}

/**
 * Every mutation the UI can make. Each one: calls the bridge, shows the backend's message in a
 * toast when it fails (never silently), refreshes the status afterwards, and resolves to an
 * ActionResult (it never throws). The returned object changes only when one of `deps` does (they are
 * all stable: the bridge, useStatus's callbacks and the toast API), so memoised rows receiving it do
 * not re-render.
 */
export function useActions({ bridge, refresh, apply, toasts }: Deps) {
  return useMemo(() => {
    async function run<M extends MethodName>(
      failTitle: string,
      method: M,
      args: ArgsOf<M>,
      opts: { success?: string; after?: 'refresh' | 'apply' | 'none' } = {},
    ): Promise<ActionResult<ResultOf<M>>> {
      try {
        const value = await (bridge.call as (m: M, a: ArgsOf<M>) => Promise<ResultOf<M>>)(method, args);
        if (opts.after === 'apply') apply(value as Status);
        else if (opts.after !== 'none') void refresh();
        if (opts.success) toasts.push({ tone: 'success', title: opts.success });
        return { ok: true, value };
      } catch (e) {
        const error = e instanceof BridgeError ? e : new BridgeError(errorMessage(e), { kind: 'server', method });
        // A refused token sends the browser back to the token prompt, which says so itself.
        if (!error.isUnauthorized || bridge.mode === 'desktop') {
          toasts.push({ tone: 'error', title: failTitle, message: error.message });
        }
        return { ok: false, error };
      }
    }

    return {
      setManualOverride: (provider: ProviderId | null) =>
        run(provider ? `Could not lock to ${provider}` : 'Could not return to automatic', 'set_manual_override', { provider }, { after: 'apply' }),
      setPreferredProvider: (provider: ProviderId) =>
        run('Could not set the preferred provider', 'set_preferred_provider', { provider }, { after: 'apply' }),
      updateRouting: (values: RoutingUpdate) =>
        run('Could not save routing settings', 'update_routing', values, { success: 'Routing settings saved' }),
      upsertProvider: (args: UpsertProviderArgs) =>
        run(`Could not save provider ${args.provider}`, 'upsert_provider', args),
      renameProvider: (provider: ProviderId, newId: ProviderId) =>
        run(`Could not rename ${provider}`, 'rename_provider', { provider, new_id: newId }, { success: `Renamed to ${newId}` }),
      deleteProvider: (provider: ProviderId) =>
        run(`Could not delete ${provider}`, 'delete_provider', { provider }, { success: `Deleted ${provider}` }),
      setProviderOrder: (order: ProviderId[]) => run('Could not reorder providers', 'set_provider_order', { order }),
      setProviderKey: (provider: ProviderId, key: string) =>
        run(`Could not set the key for ${provider}`, 'set_provider_key', { provider, key }, { success: `Key saved for ${provider}` }),
      clearProviderKey: (provider: ProviderId) =>
        run(`Could not clear the key for ${provider}`, 'clear_provider_key', { provider }, { success: `Key cleared for ${provider}` }),
      setProviderDisabled: (provider: ProviderId, disabled: boolean) =>
        run(`Could not ${disabled ? 'disable' : 'enable'} ${provider}`, 'set_provider_disabled', { provider, disabled }),
      probeProvider: (provider: ProviderId) => run(`Probe of ${provider} failed`, 'probe_provider', { provider }),
      markEventsSeen: () => run('Could not clear seen events', 'mark_events_seen', {}),
      getGatewayToken: () => run('Could not read the gateway token', 'get_gateway_token', {}, { after: 'none' }),
      rotateGatewayToken: () =>
        run('Could not rotate the gateway token', 'rotate_gateway_token', {}, { success: 'Gateway token rotated' }),
      getCodexSetup: () => run('Could not read the Codex setup', 'get_codex_setup', {}, { after: 'none' }),
      applyCodexSetup: () =>
        run('Could not write the Codex configuration', 'apply_codex_setup', {}, { after: 'none', success: 'Codex configured' }),
      restoreCodexBackup: () =>
        run('Could not restore the Codex backup', 'restore_codex_backup', {}, { after: 'none', success: 'Codex backup restored' }),
      getConfig: () => run('Could not read the configuration', 'get_config', {}, { after: 'none' }),
      /**
       * Check usage now: one provider, or every one (`null`). A toast says what came of it: checked,
       * failed (the last good reading stays and the row shows the error), or nothing to check.
       * `ids` are the providers that exist, for the "all" summary.
       */
      refreshUsage: async (provider: ProviderId | null, ids: readonly ProviderId[]) => {
        const r = await run(
          provider ? `Could not check usage for ${provider}` : 'Could not check usage',
          'refresh_usage',
          provider ? { provider } : {},
        );
        if (r.ok) toasts.push(refreshOutcome(r.value, provider, ids));
        return r;
      },
      setUsageToken: (provider: ProviderId, token: string) =>
        run(`Could not set the usage token for ${provider}`, 'set_usage_token', { provider, token }, {
          success: `Usage token saved for ${provider}`,
        }),
      clearUsageToken: (provider: ProviderId) =>
        run(`Could not clear the usage token for ${provider}`, 'clear_usage_token', { provider }, {
          success: `Usage token cleared for ${provider}`,
        }),
    };
  }, [bridge, refresh, apply, toasts]);
}

export type Actions = ReturnType<typeof useActions>;
