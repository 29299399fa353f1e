import { useCallback, useLayoutEffect, useMemo, useState } from 'react';
import { BridgeError, errorMessage, type Bridge } from '../bridge';
import { nameOf, type NameMap } from '../logic/names';
import { probeNotice, testNotice } from '../logic/providerTest';
import { refreshOutcome } from '../logic/usage';
import type {
  ArgsOf,
  ExportFormat,
  MethodName,
  ProviderId,
  RequestFilters,
  RequestLogSettings,
  ResultOf,
  RoutingUpdate,
  SavedExport,
  Status,
  UiSettings,
  UpsertProviderArgs,
} from '../types';
import type { ToastApi } from './toasts';

export type ActionResult<T> = { ok: true; value: T } | { ok: false; error: BridgeError };

interface Deps {
  bridge: Bridge;
  refresh: () => Promise<void>;
  apply: (s: Status) => void;
  toasts: ToastApi;
  /** Display names for toasts (see logic/names). */
  names: NameMap;
}

/**
 * Every mutation the UI can make. Each one: calls the bridge, shows the backend's message in full in
 * a toast when it fails (never silently), brings the status up to date afterwards (applying the
 * Status a call returns at once, or polling again), and resolves to an ActionResult (it never
 * throws). The returned object is stable (the bridge, useStatus's callbacks and the toast API are),
 * so memoised rows receiving it do not re-render on polls and a form that loads through it on mount
 * is not loaded again — over the user's edits — when a provider is renamed. Names are read when a
 * toast is written, so a toast always has the current one.
 */
export function useActions({ bridge, refresh, apply, toasts, names }: Deps) {
  // The names as of the last commit, read only inside the actions, when a toast is written: a holder of
  // this hook's own, so the actions stay the same object while the names change.
  const [latest] = useState(() => new Latest(names));
  useLayoutEffect(() => {
    latest.set(names);
  }, [latest, names]);
  const currentNames = useCallback(() => latest.get(), [latest]);
  return useMemo(() => {
    const ctx: ActionContext = { bridge, refresh, apply, toasts, currentNames };
    return { ...makeActions(ctx, true), inline: makeActions(ctx, false) };
  }, [bridge, refresh, apply, toasts, currentNames]);
}

/** A value that changes after render (set from an effect) and is read later, by event handlers. */
class Latest<T> {
  #value: T;
  constructor(value: T) {
    this.#value = value;
  }
  get(): T {
    return this.#value;
  }
  set(value: T): void {
    this.#value = value;
  }
}

interface ActionContext extends Omit<Deps, 'names'> {
  currentNames: () => NameMap;
}

/**
 * The actions. `toastErrors` false: the `inline` set, for a dialog, which shows a refusal itself (on
 * the field it names, or as its error line) — a toast would cover the form. Successes are toasted.
 */
function makeActions({ bridge, refresh, apply, toasts, currentNames }: ActionContext, toastErrors: boolean) {
  const n = (id: ProviderId) => nameOf(currentNames(), id);

  async function run<M extends MethodName>(
    failTitle: string,
    method: M,
    args: ArgsOf<M>,
    opts: { success?: string; after?: 'refresh' | 'none' } = {},
  ): Promise<ActionResult<ResultOf<M>>> {
    try {
      const value = await (bridge.call as (m: M, a: ArgsOf<M>) => Promise<ResultOf<M>>)(method, args);
      if (opts.after !== 'none') void refresh();
      if (opts.success) toasts.push({ tone: 'success', title: opts.success });
      return { ok: true, value };
    } catch (e) {
      const error = e instanceof BridgeError ? e : new BridgeError(errorMessage(e), { kind: 'server', method });
      // A refused token sends the browser back to the token prompt, which says so itself.
      if (toastErrors && (!error.isUnauthorized || bridge.mode === 'desktop')) {
        toasts.push({ tone: 'error', title: failTitle, message: error.message });
      }
      return { ok: false, error };
    }
  }

  return {
    /** Lock to a provider (null: automatic). The Status it returns is shown at once. */
    setManualOverride: async (provider: ProviderId | null) => {
      const failTitle = provider ? `Could not lock to ${n(provider)}` : 'Could not return to automatic';
      const r = await run(failTitle, 'set_manual_override', { provider }, { after: 'none' });
      if (r.ok) apply(r.value);
      return r;
    },
    /** Traffic (and every session) back to the preferred provider, picked again: with automatic return off the
     * only way back from a fallback. `chosen`: the setting as it is ("" = first in list), sent again unchanged
     * (picking the provider by id would pin "first in list" to it). The Status it returns is shown at once. */
    returnToPreferred: async (provider: ProviderId, chosen: ProviderId | '') => {
      const r = await run(`Could not switch back to ${n(provider)}`, 'set_preferred_provider', {
        provider: chosen || null,
      }, { after: 'none', success: `Back to ${n(provider)}` });
      if (r.ok) apply(r.value);
      return r;
    },
    /** Everything in the Routing card, preferred provider included ("" = first in list), in one call. */
    updateRouting: (values: RoutingUpdate) =>
      run('Could not save routing settings', 'update_routing', values, { success: 'Routing settings saved' }),
    updateUi: (values: Partial<UiSettings>) =>
      run('Could not save the settings', 'update_ui', values, { after: 'none' }),
    updateRequestLog: (values: Partial<RequestLogSettings>) =>
      run('Could not save the request log settings', 'update_request_log', values, { after: 'none' }),
    /** Adding one is toasted, as deleting one is; an edit is not (the dialog closing with the row updated says it). */
    upsertProvider: (args: UpsertProviderArgs) =>
      run(`Could not save provider ${args.display_name || n(args.provider)}`, 'upsert_provider', args,
        args.create ? { success: `Added ${args.display_name || args.provider}` } : {}),
    renameProvider: (provider: ProviderId, newId: ProviderId) =>
      run(`Could not rename ${n(provider)}`, 'rename_provider', { provider, new_id: newId }, {
        success: `${n(provider)} now has the id ${newId}`,
      }),
    deleteProvider: (provider: ProviderId) =>
      run(`Could not delete ${n(provider)}`, 'delete_provider', { provider }, { success: `Deleted ${n(provider)}` }),
    setProviderOrder: (order: ProviderId[]) => run('Could not reorder providers', 'set_provider_order', { order }),
    setProviderKey: (provider: ProviderId, key: string, name?: string) =>
      run(`Could not set the key for ${name ?? n(provider)}`, 'set_provider_key', { provider, key }, {
        success: `Key saved for ${name ?? n(provider)}`,
      }),
    clearProviderKey: (provider: ProviderId) =>
      run(`Could not clear the key for ${n(provider)}`, 'clear_provider_key', { provider }, { success: `Key cleared for ${n(provider)}` }),
    setProviderDisabled: (provider: ProviderId, disabled: boolean) =>
      run(`Could not ${disabled ? 'disable' : 'enable'} ${n(provider)}`, 'set_provider_disabled', { provider, disabled }),
    /** Its result is also toasted, as a usage check's is: the strip it shows in is no live region, and
     * the focus stays on the button. */
    probeProvider: async (provider: ProviderId) => {
      const r = await run(`Probe of ${n(provider)} failed`, 'probe_provider', { provider });
      if (r.ok) toasts.push(probeNotice(r.value, n(provider)));
      return r;
    },
    /** The status is polled again afterwards: a pass clears unhealthy / unresponsive, and last_test changes.
     * Each result is toasted as it comes in ("Test all" too), for the same reason as a probe's. */
    testProvider: async (provider: ProviderId) => {
      const r = await run(`Could not test ${n(provider)}`, 'test_provider', { provider });
      if (r.ok) toasts.push(testNotice(r.value, n(provider)));
      return r;
    },
    markEventsSeen: () => run('Could not mark the events as seen', 'mark_events_seen', {}),
    rotateGatewayToken: () =>
      run('Could not rotate the gateway token', 'rotate_gateway_token', {}, { success: 'Gateway token rotated' }),
    /** No success toast: the Connect Codex dialog, still open, says so itself (a toast would cover it). */
    applyCodexSetup: () =>
      run('Could not write the Codex configuration', 'apply_codex_setup', {}, { after: 'none' }),
    restoreCodexBackup: () =>
      run('Could not restore the Codex backup', 'restore_codex_backup', {}, { after: 'none' }),
    getConfig: () => run('Could not read the configuration', 'get_config', {}, { after: 'none' }),
    /** The request log's export saved as a file (browser: a download; desktop: the save dialog). `saved`
     * null: cancelled in the dialog. */
    exportRequests: async (format: ExportFormat, filters: RequestFilters): Promise<ActionResult<SavedExport>> => {
      try {
        return { ok: true, value: await bridge.exportRequests({ format, ...filters }) };
      } catch (e) {
        const error = e instanceof BridgeError ? e : new BridgeError(errorMessage(e), { kind: 'server', method: 'export_requests' });
        if (toastErrors && (!error.isUnauthorized || bridge.mode === 'desktop')) {
          toasts.push({ tone: 'error', title: 'Could not export the requests', message: error.message });
        }
        return { ok: false, error };
      }
    },
    /**
     * Check usage now: one provider, or every one (`null`). A toast says what came of it: checked,
     * failed (the last good reading stays and the row shows the error), or nothing to check.
     * `ids` are the providers that exist, for the "all" summary.
     */
    refreshUsage: async (provider: ProviderId | null, ids: readonly ProviderId[]) => {
      const r = await run(
        provider ? `Could not check usage for ${n(provider)}` : 'Could not check usage',
        'refresh_usage',
        provider ? { provider } : {},
      );
      if (r.ok) toasts.push(refreshOutcome(r.value, provider, ids, n));
      return r;
    },
    setUsageToken: (provider: ProviderId, token: string) =>
      run(`Could not set the usage token for ${n(provider)}`, 'set_usage_token', { provider, token }, {
        success: `Usage token saved for ${n(provider)}`,
      }),
    clearUsageToken: (provider: ProviderId) =>
      run(`Could not clear the usage token for ${n(provider)}`, 'clear_usage_token', { provider }, {
        success: `Usage token cleared for ${n(provider)}`,
      }),
  };
}

/** Every action; `inline` has the same ones without error toasts, for dialogs. */
export type Actions = ReturnType<typeof useActions>;
