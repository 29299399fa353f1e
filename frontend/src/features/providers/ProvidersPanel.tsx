import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState, type DragEvent } from 'react';
import { dropReorder, moveById, orderedProviderIds, sameOrder } from '../../logic/order';
import type { Actions } from '../../hooks/useActions';
import { useUsageRefresh } from './useUsageRefresh';
import type { Ledger, ProviderMetrics, ProviderStatus, QuotaEntry } from '../../types';
import { ConfirmDialog } from '../../ui/ConfirmDialog';
import { Icon } from '../../ui/Icon';
import { KeyDialog } from './dialogs/KeyDialog';
import type { ProbeState } from './ProbeResult';
import { ProviderDialog } from './dialogs/ProviderDialog';
import { PROVIDER_COLUMNS, ProviderRow, type RowDialog, type RowHandlers } from './ProviderRow';
import { RenameDialog } from './dialogs/RenameDialog';
import { UsageDialog } from './dialogs/UsageDialog';

interface Props {
  providerOrder: string[];
  providers: Record<string, ProviderStatus>;
  metrics: Record<string, ProviderMetrics>;
  quota: Record<string, QuotaEntry>;
  ledgers: Record<string, Ledger>;
  preferredProvider: string;
  activeProvider: string | null;
  manualOverride: string | null;
  actions: Actions;
  refresh: () => Promise<void>;
}

type Dialog = { kind: 'add' } | { kind: RowDialog; id: string } | null;
type DropHint = { id: string; place: 'before' | 'after' } | null;

/** Providers table with its toolbar and dialogs; owns reorder, probe and dialog UI state only. */
export function ProvidersPanel(props: Props) {
  const { providers, metrics, quota, ledgers, actions, refresh } = props;
  const serverIds = useMemo(
    () => orderedProviderIds({ provider_order: props.providerOrder, providers }),
    [props.providerOrder, providers],
  );
  const [pendingOrder, setPendingOrder] = useState<readonly string[] | null>(null);
  const ids = pendingOrder && sameOrder([...pendingOrder].sort(), [...serverIds].sort()) ? pendingOrder : serverIds;
  const [dialog, setDialog] = useState<Dialog>(null);
  const [probes, setProbes] = useState<Record<string, ProbeState>>({});
  const [dropHint, setDropHint] = useState<DropHint>(null);
  const [announcement, setAnnouncement] = useState('');
  const usage = useUsageRefresh(actions, serverIds);
  const refreshUsageRef = useRef(usage.refresh);
  refreshUsageRef.current = usage.refresh;

  const idsRef = useRef(ids);
  idsRef.current = ids;
  const dragId = useRef<string | null>(null);
  const dropHintRef = useRef<DropHint>(null);
  const focusAfterMove = useRef<string | null>(null);
  const tableRef = useRef<HTMLTableElement>(null);

  const commitOrder = useCallback(
    async (next: readonly string[], movedId: string) => {
      if (sameOrder(next, idsRef.current)) return;
      setPendingOrder(next);
      setAnnouncement(`${movedId} moved to position ${next.indexOf(movedId) + 1} of ${next.length}`);
      const r = await actions.setProviderOrder([...next]);
      if (r.ok) await refresh();
      setPendingOrder((cur) => (cur === next ? null : cur));
    },
    [actions, refresh],
  );

  // Keep keyboard focus on the handle of the provider being moved.
  useLayoutEffect(() => {
    const id = focusAfterMove.current;
    if (!id || !tableRef.current) return;
    const handle = tableRef.current.querySelector<HTMLElement>(`[data-reorder-handle="${id}"]`);
    focusAfterMove.current = null;
    if (handle && document.activeElement !== handle) handle.focus();
  });

  const handlers: RowHandlers = useMemo(
    () => ({
      move: (id, delta) => {
        focusAfterMove.current = id;
        void commitOrder(moveById(idsRef.current, id, delta), id);
      },
      open: (kind, id) => setDialog({ kind, id }),
      openUsage: (id) => setDialog({ kind: 'usage', id }),
      refreshUsage: (id) => void refreshUsageRef.current(id),
      setDisabled: (id, disabled) => void actions.setProviderDisabled(id, disabled),
      probe: (id) => {
        setProbes((s) => ({ ...s, [id]: { loading: true } }));
        void actions.probeProvider(id).then((r) =>
          setProbes((s) => ({
            ...s,
            [id]: r.ok ? { loading: false, result: r.value } : { loading: false, error: r.error.message },
          })),
        );
      },
      closeProbe: (id) =>
        setProbes((s) => {
          const { [id]: _drop, ...rest } = s;
          return rest;
        }),
      dragStart: (id, e) => {
        dragId.current = id;
        focusAfterMove.current = null;
        try {
          e.dataTransfer.effectAllowed = 'move';
          e.dataTransfer.setData('text/plain', id);
          const row = (e.currentTarget as HTMLElement).closest('tr');
          if (row && e.dataTransfer.setDragImage) e.dataTransfer.setDragImage(row, 16, 16);
        } catch {
          /* some engines restrict dataTransfer; the ref still carries the id */
        }
      },
      dragOver: (id, e: DragEvent<HTMLTableRowElement>) => {
        if (!dragId.current) return;
        e.preventDefault();
        try {
          e.dataTransfer.dropEffect = 'move';
        } catch {
          /* ignore */
        }
        const rect = e.currentTarget.getBoundingClientRect();
        const place = e.clientY < rect.top + rect.height / 2 ? 'before' : 'after';
        const h = dropHintRef.current;
        if (h && h.id === id && h.place === place) return;
        dropHintRef.current = { id, place };
        setDropHint(dropHintRef.current);
      },
      drop: (id, e) => {
        const from = dragId.current;
        if (!from) return;
        e.preventDefault();
        dragId.current = null;
        const h = dropHintRef.current;
        const place = h && h.id === id ? h.place : 'before';
        dropHintRef.current = null;
        setDropHint(null);
        void commitOrder(dropReorder(idsRef.current, from, id, place), from);
      },
      dragEnd: () => {
        dragId.current = null;
        dropHintRef.current = null;
        setDropHint(null);
      },
    }),
    [actions, commitOrder],
  );

  // Forget probe results of providers that are gone (deleted or renamed).
  useEffect(() => {
    setProbes((s) => {
      const stale = Object.keys(s).filter((id) => !providers[id]);
      if (stale.length === 0) return s;
      const next = { ...s };
      for (const id of stale) delete next[id];
      return next;
    });
  }, [providers]);

  const current = dialog && dialog.kind !== 'add' ? providers[dialog.id] : null;
  const close = () => setDialog(null);

  return (
    <section className="card card--table" aria-label="Providers">
      <div className="card__head">
        <h2 id="providers-title" className="card__title">
          Providers <span className="muted count">{ids.length}</span>
        </h2>
        <div className="toolbar">
          <button
            type="button"
            className="btn btn--small"
            disabled={usage.allBusy || ids.length === 0}
            aria-busy={usage.allBusy || undefined}
            title="Check every provider's usage now"
            onClick={() => void usage.refresh(null)}
          >
            <Icon name="refresh" size={14} /> Refresh all usage
          </button>
          <button type="button" className="btn btn--small btn--primary" onClick={() => setDialog({ kind: 'add' })}>
            <Icon name="plus" size={14} /> Add provider
          </button>
        </div>
      </div>
      <p id="reorder-help" className="sr-only">
        Drag to reorder, or focus the handle and press the up or down arrow key.
      </p>
      <div className="sr-only" aria-live="polite">
        {announcement}
      </div>
      <div className="table-scroll">
        <table ref={tableRef} className="ptable" aria-label="Providers">
          <colgroup>
            <col className="c-order" />
            <col className="c-name" />
            <col className="c-url" />
            <col className="c-health" />
            <col className="c-fails" />
            <col className="c-error" />
            <col className="c-req" />
            <col className="c-tokens" />
            <col className="c-quota" />
            <col className="c-ledger" />
            <col className="c-key" />
            <col className="c-actions" />
          </colgroup>
          <thead>
            <tr>
              <th scope="col">
                <span className="sr-only">Order</span>
              </th>
              <th scope="col">Provider</th>
              <th scope="col">Base URL</th>
              <th scope="col">Health</th>
              <th scope="col" className="num" title="Consecutive failures">
                Fails
              </th>
              <th scope="col">Last error</th>
              <th scope="col" className="num" title="Requests ok / errors">
                Req ok/err
              </th>
              <th scope="col" className="num">
                Tokens
              </th>
              <th scope="col" title="What the provider's usage panel says is left">
                Quota
              </th>
              <th scope="col" className="num" title="Tokens served since the last successful usage check">
                Since check
              </th>
              <th scope="col">Key</th>
              <th scope="col">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {ids.length === 0 ? (
              <tr>
                <td colSpan={PROVIDER_COLUMNS} className="empty">
                  No providers yet. Add one to start routing.
                </td>
              </tr>
            ) : (
              ids.map((id, i) => (
                <ProviderRow
                  key={id}
                  id={id}
                  provider={providers[id]}
                  metrics={metrics[id]}
                  quota={quota[id]}
                  ledger={ledgers[id]}
                  usageBusy={usage.isBusy(id)}
                  isFirst={i === 0}
                  isLast={i === ids.length - 1}
                  isPreferred={id === props.preferredProvider}
                  isActive={id === props.activeProvider}
                  isLocked={id === props.manualOverride}
                  probe={probes[id]}
                  dropHint={dropHint && dropHint.id === id ? dropHint.place : null}
                  handlers={handlers}
                />
              ))
            )}
          </tbody>
        </table>
      </div>

      {dialog?.kind === 'add' ? (
        <ProviderDialog
          id={null}
          provider={null}
          existingIds={serverIds}
          onUpsert={actions.upsertProvider}
          onSetKey={actions.setProviderKey}
          onClose={close}
        />
      ) : null}
      {dialog?.kind === 'edit' && current ? (
        <ProviderDialog
          id={dialog.id}
          provider={current}
          existingIds={serverIds}
          onUpsert={actions.upsertProvider}
          onSetKey={actions.setProviderKey}
          onClose={close}
        />
      ) : null}
      {dialog?.kind === 'rename' && current ? (
        <RenameDialog id={dialog.id} existingIds={serverIds} onRename={actions.renameProvider} onClose={close} />
      ) : null}
      {dialog?.kind === 'key' && current ? (
        <KeyDialog
          id={dialog.id}
          provider={current}
          onSetKey={actions.setProviderKey}
          onClearKey={actions.clearProviderKey}
          onClose={close}
        />
      ) : null}
      {dialog?.kind === 'usage' && current ? (
        <UsageDialog
          id={dialog.id}
          provider={current}
          entry={quota[dialog.id]}
          actions={actions}
          onRefresh={handlers.refreshUsage}
          onClose={close}
        />
      ) : null}
      {dialog?.kind === 'delete' && current ? (
        <ConfirmDialog
          title={`Delete ${dialog.id}?`}
          confirmLabel="Delete provider"
          danger
          onClose={close}
          onConfirm={async () => {
            const r = await actions.deleteProvider(dialog.id);
            if (r.ok) close();
          }}
        >
          <p>
            <strong>{current.display_name}</strong> ({dialog.id}) and its key, health, metrics and history are removed.
            This cannot be undone.
          </p>
        </ConfirmDialog>
      ) : null}
    </section>
  );
}
