import { useCallback, useMemo, useRef, useState } from 'react';
import { useToasts } from '../../hooks/toasts';
import type { Actions } from '../../hooks/useActions';
import { nameOf, type NameMap } from '../../logic/names';
import { orderedProviderIds } from '../../logic/order';
import type { Ledger, ProviderMetrics, ProviderStatus, QuotaEntry } from '../../types';
import { Icon } from '../../ui/Icon';
import { ProviderDialogs, type OpenDialog } from './dialogs/ProviderDialogs';
import type { RowHandlers } from './ProviderRow';
import { ProvidersTable } from './ProvidersTable';
import { useFocusAfterDialog } from './useFocusAfterDialog';
import { useProbes } from './useProbes';
import { useProviderOrder } from './useProviderOrder';
import { useProviderTests } from './useProviderTests';
import { useUsageRefresh } from './useUsageRefresh';
import { Button } from '../../ui/Button';
import { hasOwn, own, setOwn } from '../../logic/own';

interface Props {
  providerOrder: string[];
  providers: Record<string, ProviderStatus>;
  metrics: Record<string, ProviderMetrics>;
  quota: Record<string, QuotaEntry>;
  ledgers: Record<string, Ledger>;
  names: NameMap;
  preferredProvider: string | null;
  activeProvider: string | null;
  manualOverride: string | null;
  actions: Actions;
  refresh: () => Promise<void>;
}

/**
 * The same array while the providers and their order stay the same, so the callbacks built on it
 * (and the memoised rows that receive them) survive polls that change only a provider's health.
 */
function useProviderIds(providerOrder: string[], providers: Record<string, ProviderStatus>): readonly string[] {
  const key = orderedProviderIds({ provider_order: providerOrder, providers }).join('\n');
  return useMemo(() => (key ? key.split('\n') : []), [key]);
}

/** Results kept by id, shown only for providers that still exist (a deleted or renamed one loses its own). */
function useLive<T>(ids: readonly string[], byId: Record<string, T>): Record<string, T> {
  return useMemo(() => {
    const out: Record<string, T> = {};
    for (const id of ids) {
      const v = own<string, T>(byId, id);
      if (v !== undefined) setOwn(out, id, v);
    }
    return out;
  }, [ids, byId]);
}

/** What a probe or a test reached a provider as: its address and key. */
function reachedAs(p: ProviderStatus | undefined): string {
  return p ? `${p.base_url}\n${p.has_key ? p.key_preview : ''}` : '';
}

/**
 * Calls `readdressed(id)` for each provider whose address or key changed since the last status, or that went
 * (deleted, renamed: an id added again later is another provider): a probe's or a test's result shown for it
 * spoke of what is no longer there. Adjusted while rendering, as React's docs do it for state that follows
 * a prop.
 */
function useReaddressed(ids: readonly string[], providers: Record<string, ProviderStatus>, readdressed: (id: string) => void) {
  const now = ids.map((id) => `${id}\t${reachedAs(own(providers, id))}`).join('\0');
  const [seen, setSeen] = useState(now);
  if (seen === now) return;
  const after = new Map(now.split('\0').map((line) => line.split('\t') as [string, string]));
  for (const line of seen.split('\0')) {
    const [id, reached] = line.split('\t') as [string, string];
    if (id && after.get(id) !== reached) readdressed(id);
  }
  setSeen(now);
}

/** `value`, or while it is null the last non-null value it had (adjusted during render, no effect). */
function useLastKnown(value: string | null): string | null {
  const [last, setLast] = useState(value);
  if (value !== null && value !== last) setLast(value);
  return value ?? last;
}

/** Providers table with its toolbar and dialogs: wires the reorder, test, probe, usage and dialog hooks to the views. */
export function ProvidersPanel(props: Props) {
  const { providers, actions, refresh, names } = props;
  const serverIds = useProviderIds(props.providerOrder, providers);
  const describe = useCallback((id: string) => nameOf(names, id), [names]);
  const order = useProviderOrder(serverIds, actions, refresh, describe);
  const probes = useProbes(actions);
  const tests = useProviderTests(actions);
  const usage = useUsageRefresh(actions, serverIds);
  const [dialog, setDialog] = useState<OpenDialog>(null);
  const close = useCallback(() => setDialog(null), []);
  const sectionRef = useRef<HTMLElement>(null);
  const headingRef = useRef<HTMLHeadingElement>(null);
  const focusAfter = useFocusAfterDialog(sectionRef, headingRef, serverIds, dialog !== null);
  /** Its row goes with the next status: focus goes to the heading, not back into that row. */
  const deleted = useCallback(() => {
    focusAfter({ kind: 'heading' });
    setDialog(null);
  }, [focusAfter]);
  /** Focus goes to the row under its new id (the heading until that row is there). */
  const renamed = useCallback(
    (newId: string) => {
      focusAfter({ kind: 'row', id: newId });
      setDialog(null);
    },
    [focusAfter],
  );
  const toasts = useToasts();
  const dialogId = dialog && dialog.kind !== 'add' ? dialog.id : null;
  const dialogName = useLastKnown(dialogId !== null && hasOwn(providers, dialogId) ? nameOf(names, dialogId) : null);
  /** Its provider was renamed or deleted elsewhere: the dialog closes (for good) and says so. */
  const gone = useCallback(() => {
    setDialog(null);
    toasts.push({ tone: 'info', title: `${dialogName ?? 'The provider'} was renamed or deleted meanwhile`, message: 'Its dialog was closed.' });
  }, [dialogName, toasts]);
  /** Add provider created it but the key was refused: the key dialog of the new provider takes over. */
  const keyRefused = useCallback(
    async (id: string, key: string, error: string) => {
      await refresh(); // the new provider is in the status before its dialog opens
      setDialog({ kind: 'key', id, retry: { key, error } });
    },
    [refresh],
  );

  const { move, dragStart, dragOver, drop, dragEnd } = order;
  const { refresh: refreshUsage } = usage;
  const { probe, close: closeProbe } = probes;
  const { test, close: closeTest, testAll } = tests;
  const handlers: RowHandlers = useMemo(
    () => ({
      move,
      open: (kind, id) => setDialog({ kind, id }),
      openUsage: (id) => setDialog({ kind: 'usage', id }),
      refreshUsage: (id) => void refreshUsage(id),
      setDisabled: (id, disabled) => void actions.setProviderDisabled(id, disabled),
      probe,
      closeProbe,
      test,
      closeTest,
      dragStart,
      dragOver,
      drop,
      dragEnd,
      heading: () => headingRef.current,
    }),
    [move, dragStart, dragOver, drop, dragEnd, refreshUsage, actions, probe, closeProbe, test, closeTest],
  );

  useReaddressed(serverIds, providers, (id) => {
    closeProbe(id);
    closeTest(id);
  });
  const liveProbes = useLive(serverIds, probes.byId);
  const liveTests = useLive(serverIds, tests.byId);
  const testable = serverIds.filter((id) => {
    const p = own(providers, id);
    return !!p && !p.disabled && Boolean(p.base_url);
  });

  return (
    <section ref={sectionRef} className="card card--table" aria-label="Providers">
      <div className="card__head">
        <h2 ref={headingRef} id="providers-title" className="card__title" tabIndex={-1}>
          Providers <span className="muted count">{order.ids.length}</span>
        </h2>
        <div className="toolbar toolbar--wrap">
          <Button
            type="button"
            className="btn btn--small"
            disabled={testable.length === 0}
            aria-busy={tests.allBusy || undefined}
            title="Test every enabled provider: a streamed request, a tool call and the model list"
            softDisabled={tests.allBusy}
            onClick={() => testAll(testable)}
          >
            <Icon name="flask" size={14} /> Test all
          </Button>
          <Button
            type="button"
            className="btn btn--small"
            disabled={order.ids.length === 0}
            aria-busy={usage.allBusy || undefined}
            title="Check every provider's usage now"
            softDisabled={usage.allBusy}
            onClick={() => void usage.refresh(null)}
          >
            <Icon name="refresh" size={14} /> Refresh all usage
          </Button>
          <button type="button" className="btn btn--small btn--primary" onClick={() => setDialog({ kind: 'add' })}>
            <Icon name="plus" size={14} /> Add provider
          </button>
        </div>
      </div>
      <p id="reorder-help" className="sr-only">
        Drag to reorder, or focus the handle and press the up or down arrow key.
      </p>
      <div className="sr-only" aria-live="polite">
        {order.announcement}
      </div>
      <ProvidersTable
        tableRef={order.tableRef}
        ids={order.ids}
        names={names}
        providers={providers}
        metrics={props.metrics}
        quota={props.quota}
        ledgers={props.ledgers}
        preferredProvider={props.preferredProvider}
        activeProvider={props.activeProvider}
        manualOverride={props.manualOverride}
        probes={liveProbes}
        tests={liveTests}
        dropHint={order.dropHint}
        isUsageBusy={usage.isBusy}
        handlers={handlers}
      />
      <ProviderDialogs
        dialog={dialog}
        providers={providers}
        quota={props.quota}
        names={names}
        existingIds={serverIds}
        actions={actions}
        onRefreshUsage={handlers.refreshUsage}
        onKeyRefused={(id, key, error) => void keyRefused(id, key, error)}
        onGone={gone}
        onDeleted={deleted}
        onRenamed={renamed}
        onClose={close}
      />
    </section>
  );
}
