import type { RefObject } from 'react';
import type { Ledger, ProviderMetrics, ProviderStatus, QuotaEntry } from '../../types';
import type { ProbeState } from './ProbeResult';
import { PROVIDER_COLUMNS, ProviderRow, type RowHandlers } from './ProviderRow';
import type { DropHint } from './useProviderOrder';

interface Props {
  tableRef: RefObject<HTMLTableElement | null>;
  ids: readonly string[];
  providers: Record<string, ProviderStatus>;
  metrics: Record<string, ProviderMetrics>;
  quota: Record<string, QuotaEntry>;
  ledgers: Record<string, Ledger>;
  preferredProvider: string;
  activeProvider: string | null;
  manualOverride: string | null;
  probes: Record<string, ProbeState>;
  dropHint: DropHint;
  isUsageBusy: (id: string) => boolean;
  handlers: RowHandlers;
}

/** The providers table: header, one memoised row per provider in order, or the empty state. */
export function ProvidersTable({ tableRef, ...p }: Props) {
  return (
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
          {p.ids.length === 0 ? (
            <tr>
              <td colSpan={PROVIDER_COLUMNS} className="empty">
                No providers yet. Add one to start routing.
              </td>
            </tr>
          ) : (
            p.ids.map((id, i) => (
              <ProviderRow
                key={id}
                id={id}
                provider={p.providers[id]}
                metrics={p.metrics[id]}
                quota={p.quota[id]}
                ledger={p.ledgers[id]}
                usageBusy={p.isUsageBusy(id)}
                isFirst={i === 0}
                isLast={i === p.ids.length - 1}
                isPreferred={id === p.preferredProvider}
                isActive={id === p.activeProvider}
                isLocked={id === p.manualOverride}
                probe={p.probes[id]}
                dropHint={p.dropHint && p.dropHint.id === id ? p.dropHint.place : null}
                handlers={p.handlers}
              />
            ))
          )}
        </tbody>
      </table>
    </div>
  );
}
