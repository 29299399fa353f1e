import type { RefObject } from 'react';
import { nameOf, type NameMap } from '../../logic/names';
import type { Ledger, ProviderMetrics, ProviderStatus, QuotaEntry } from '../../types';
import type { ProbeState } from './ProbeResult';
import { PROVIDER_COLUMNS, ProviderRow, type RowHandlers } from './ProviderRow';
import type { DropHint } from './useProviderOrder';
import type { TestState } from './useProviderTests';
import { own } from '../../logic/own';

interface Props {
  tableRef: RefObject<HTMLTableElement | null>;
  ids: readonly string[];
  names: NameMap;
  providers: Record<string, ProviderStatus>;
  metrics: Record<string, ProviderMetrics>;
  quota: Record<string, QuotaEntry>;
  ledgers: Record<string, Ledger>;
  preferredProvider: string | null;
  activeProvider: string | null;
  manualOverride: string | null;
  probes: Record<string, ProbeState>;
  tests: Record<string, TestState>;
  dropHint: DropHint;
  isUsageBusy: (id: string) => boolean;
  handlers: RowHandlers;
}

/**
 * The providers table: six columns whose cells stack their details (name, id, key and full base URL;
 * health, test and last error; traffic; quota and tokens since the check), so it narrows to 720 px by
 * wrapping instead of clipping.
 */
export function ProvidersTable({ tableRef, ...p }: Props) {
  return (
    <div className="table-wrap">
      <table ref={tableRef} className="ptable" aria-label="Providers">
        <colgroup>
          <col className="c-order" />
          <col className="c-name" />
          <col className="c-health" />
          <col className="c-traffic" />
          <col className="c-quota" />
          <col className="c-actions" />
        </colgroup>
        <thead>
          <tr>
            <th scope="col">
              <span className="sr-only">Order</span>
            </th>
            <th scope="col">Provider</th>
            <th scope="col">Health</th>
            <th scope="col" className="num" title="Attempts this provider served / failed, and tokens served. A request that failed over counts once for each provider it tried, so these add up to more than the requests counted on the Gateway card.">
              Traffic
            </th>
            <th scope="col" title="What the provider's usage panel says is left, and the tokens used since last check (served through the gateway since that reading)">
              Quota <span className="th-sub">used since last check</span>
            </th>
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
            p.ids.map((id, i) => {
              const provider = own(p.providers, id);
              return provider ? (
                <ProviderRow
                  key={id}
                  id={id}
                  name={nameOf(p.names, id)}
                  provider={provider}
                  metrics={own(p.metrics, id)}
                  quota={own(p.quota, id)}
                  ledger={own(p.ledgers, id)}
                  usageBusy={p.isUsageBusy(id)}
                  isFirst={i === 0}
                  isLast={i === p.ids.length - 1}
                  isPreferred={id === p.preferredProvider}
                  isActive={id === p.activeProvider}
                  isLocked={id === p.manualOverride}
                  probe={own(p.probes, id)}
                  test={own(p.tests, id)}
                  dropHint={p.dropHint && p.dropHint.id === id ? p.dropHint.place : null}
                  handlers={p.handlers}
                />
              ) : null;
            })
          )}
        </tbody>
      </table>
    </div>
  );
}
