import { memo, useState, type DragEvent, type KeyboardEvent } from 'react';
import { formatCount, formatDateTime, truncate } from '../../logic/format';
import { healthBadge } from '../../logic/health';
import { ledgerCell } from '../../logic/usage';
import type { Ledger, ProviderMetrics, ProviderStatus, QuotaEntry } from '../../types';
import { Badge } from '../../ui/Badge';
import { Countdown } from '../../ui/Countdown';
import { Icon } from '../../ui/Icon';
import { IconButton } from '../../ui/IconButton';
import { ProbeResult, type ProbeState } from './ProbeResult';
import type { RowDialog } from './dialogs/ProviderDialogs';
import { QuotaCell } from './QuotaCell';

/** Columns of the providers table (for the detail row's colSpan). */
export const PROVIDER_COLUMNS = 12;

/** Stable callbacks shared by every row (one object for the table's lifetime). */
export interface RowHandlers {
  move: (id: string, delta: number) => void;
  open: (dialog: RowDialog, id: string) => void;
  setDisabled: (id: string, disabled: boolean) => void;
  probe: (id: string) => void;
  closeProbe: (id: string) => void;
  refreshUsage: (id: string) => void;
  /** Same as open('usage', id); a separate function so the memoised quota cell can keep it. */
  openUsage: (id: string) => void;
  dragStart: (id: string, e: DragEvent) => void;
  dragOver: (id: string, e: DragEvent<HTMLTableRowElement>) => void;
  drop: (id: string, e: DragEvent) => void;
  dragEnd: () => void;
}

export interface ProviderRowProps {
  id: string;
  provider: ProviderStatus;
  metrics: ProviderMetrics | undefined;
  quota: QuotaEntry | undefined;
  ledger: Ledger | undefined;
  /** A usage check covering this provider is under way. */
  usageBusy: boolean;
  isFirst: boolean;
  isLast: boolean;
  isPreferred: boolean;
  isActive: boolean;
  isLocked: boolean;
  probe: ProbeState | undefined;
  dropHint: 'before' | 'after' | null;
  handlers: RowHandlers;
}

/**
 * One provider. Memoised: with structural sharing upstream, a poll that leaves this provider
 * unchanged passes identical props and the row is skipped.
 */
export const ProviderRow = memo(function ProviderRow(props: ProviderRowProps) {
  const { id, provider: p, metrics: m, handlers: h } = props;
  const [errorOpen, setErrorOpen] = useState(false);
  const badge = healthBadge(p);
  const ledger = ledgerCell(props.ledger);

  function onHandleKey(e: KeyboardEvent<HTMLButtonElement>) {
    if (e.key === 'ArrowUp' || e.key === 'ArrowDown') {
      e.preventDefault();
      h.move(id, e.key === 'ArrowUp' ? -1 : 1);
    }
  }

  return (
    <>
      <tr
        className={`prow${p.disabled ? ' prow--disabled' : ''}${props.dropHint ? ` prow--drop-${props.dropHint}` : ''}`}
        data-testid={`provider-row-${id}`}
        data-provider-id={id}
        onDragOver={(e) => h.dragOver(id, e)}
        onDrop={(e) => h.drop(id, e)}
      >
        <td className="prow__order">
          <button
            type="button"
            className="handle"
            draggable
            aria-label={`Reorder ${id}`}
            aria-describedby="reorder-help"
            title="Drag, or focus and press ↑/↓"
            data-reorder-handle={id}
            onKeyDown={onHandleKey}
            onDragStart={(e) => h.dragStart(id, e)}
            onDragEnd={h.dragEnd}
          >
            <Icon name="grip" />
          </button>
          <span className="updown">
            <button type="button" aria-label={`Move ${id} up`} title="Move up" disabled={props.isFirst} onClick={() => h.move(id, -1)}>
              <Icon name="up" size={12} />
            </button>
            <button type="button" aria-label={`Move ${id} down`} title="Move down" disabled={props.isLast} onClick={() => h.move(id, 1)}>
              <Icon name="down" size={12} />
            </button>
          </span>
        </td>
        <td className="prow__name">
          <div className="ellipsis" title={p.display_name}>
            <strong>{p.display_name || id}</strong>
          </div>
          <div className="prow__id">
            <code className="mono">{id}</code>
            {props.isPreferred ? <span className="tag" title="Preferred provider">preferred</span> : null}
            {props.isLocked ? <span className="tag tag--lock" title="Routing is locked to this provider">locked</span> : null}
            {props.isActive ? <span className="tag tag--active" title="Served the last request">active</span> : null}
          </div>
        </td>
        <td className="prow__url">
          <span className="mono ellipsis" title={p.base_url}>
            {p.base_url}
          </span>
        </td>
        <td className="prow__health">
          <Badge tone={badge.tone} title={badge.description}>
            {badge.label}
          </Badge>
          {badge.kind === 'cooldown' ? <Countdown untilMs={p.cooldown_until_unix_ms} label={`Cooldown of ${id}`} /> : null}
        </td>
        <td className="num" title={p.last_fail_at_unix_ms ? `Last failure ${formatDateTime(p.last_fail_at_unix_ms)}` : undefined}>
          <span className={p.consecutive_failures > 0 ? 'text-bad' : 'muted'}>{p.consecutive_failures}</span>
        </td>
        <td className="prow__error">
          {p.last_error ? (
            <button
              type="button"
              className="linkish"
              title={p.last_error}
              aria-expanded={errorOpen}
              aria-label={`Last error of ${id}: ${truncate(p.last_error, 120)}`}
              onClick={() => setErrorOpen((o) => !o)}
            >
              <span className={errorOpen ? 'wrap' : 'ellipsis'}>{errorOpen ? p.last_error : truncate(p.last_error, 80)}</span>
            </button>
          ) : (
            <span className="muted">—</span>
          )}
        </td>
        <td className="num">
          <span title="Successful requests">{formatCount(m?.ok_requests ?? 0)}</span>
          <span className="muted"> / </span>
          <span title="Failed requests" className={m && m.error_requests > 0 ? 'text-bad' : undefined}>
            {formatCount(m?.error_requests ?? 0)}
          </span>
        </td>
        <td className="num" title={`${m?.total_tokens ?? 0} tokens`}>
          {formatCount(m?.total_tokens ?? 0)}
        </td>
        <td className="prow__quota">
          <QuotaCell id={id} entry={props.quota} busy={props.usageBusy} onRefresh={h.refreshUsage} onOpen={h.openUsage} />
        </td>
        <td className="num" title={ledger.title} data-testid={`ledger-${id}`}>
          <span className={ledger.text === '—' ? 'muted' : undefined}>{ledger.text}</span>
        </td>
        <td className="prow__key">
          {p.has_key ? (
            <code className="mono ellipsis" title="Key preview" data-testid={`key-preview-${id}`}>
              {p.key_preview}
            </code>
          ) : (
            <span className="text-warn">no key</span>
          )}
        </td>
        <td className="prow__actions">
          <div className="actions">
            <IconButton
              icon="probe"
              label={`Probe ${id}`}
              disabled={props.probe?.loading}
              onClick={() => h.probe(id)}
            />
            <IconButton icon="key" label={p.has_key ? `Change key for ${id}` : `Set key for ${id}`} onClick={() => h.open('key', id)} />
            <IconButton icon="gauge" label={`Usage settings for ${id}`} onClick={() => h.open('usage', id)} />
            <IconButton icon="edit" label={`Edit ${id}`} onClick={() => h.open('edit', id)} />
            <IconButton icon="tag" label={`Rename ${id}`} onClick={() => h.open('rename', id)} />
            <IconButton
              icon="power"
              label={p.disabled ? `Enable ${id}` : `Disable ${id}`}
              className={p.disabled ? 'icon-btn--off' : undefined}
              onClick={() => h.setDisabled(id, !p.disabled)}
            />
            <IconButton icon="trash" tone="danger" label={`Delete ${id}`} onClick={() => h.open('delete', id)} />
          </div>
        </td>
      </tr>
      {props.probe ? (
        <tr className="prow-detail" data-testid={`provider-detail-${id}`}>
          <td colSpan={PROVIDER_COLUMNS}>
            <ProbeResult id={id} state={props.probe} onClose={() => h.closeProbe(id)} />
          </td>
        </tr>
      ) : null}
    </>
  );
});
