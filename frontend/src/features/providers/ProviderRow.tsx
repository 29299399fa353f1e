import { memo, useRef, useState, type DragEvent, type KeyboardEvent } from 'react';
import { countNoun, formatCount, formatDateTime } from '../../logic/format';
import { healthBadge } from '../../logic/health';
import { describeMap } from '../../logic/modelMap';
import { testBadges } from '../../logic/providerTest';
import { ledgerCell } from '../../logic/usage';
import type { Ledger, ProviderMetrics, ProviderStatus, QuotaEntry } from '../../types';
import { useFocusFallback } from '../../hooks/useFocusFallback';
import { Badge } from '../../ui/Badge';
import { Countdown } from '../../ui/Countdown';
import { Icon } from '../../ui/Icon';
import { IconButton } from '../../ui/IconButton';
import type { RowDialog } from './dialogs/ProviderDialogs';
import { ProbeResult, type ProbeState } from './ProbeResult';
import { QuotaCell } from './QuotaCell';
import { TestResult } from './TestResult';
import { BaseUrl } from './BaseUrl';
import type { TestState } from './useProviderTests';

/** Columns of the providers table (for the detail rows' colSpan). */
export const PROVIDER_COLUMNS = 6;

/** Stable callbacks shared by every row (one object while the providers and their order stay the same). */
export interface RowHandlers {
  move: (id: string, delta: number) => void;
  open: (dialog: RowDialog, id: string) => void;
  setDisabled: (id: string, disabled: boolean) => void;
  probe: (id: string) => void;
  closeProbe: (id: string) => void;
  test: (id: string) => void;
  closeTest: (id: string) => void;
  refreshUsage: (id: string) => void;
  /** Same as open('usage', id); a separate function so the memoised quota cell can keep it. */
  openUsage: (id: string) => void;
  dragStart: (id: string, e: DragEvent) => void;
  dragOver: (id: string, e: DragEvent<HTMLTableRowElement>) => void;
  drop: (id: string, e: DragEvent) => void;
  dragEnd: () => void;
  /** Where the focus goes when a row holding it goes away (the provider deleted elsewhere). */
  heading: () => HTMLElement | null;
}

export interface ProviderRowProps {
  id: string;
  /** The display name to show (disambiguated when two providers share one). */
  name: string;
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
  test: TestState | undefined;
  dropHint: 'before' | 'after' | null;
  handlers: RowHandlers;
}

/**
 * One provider. Memoised: with structural sharing upstream, a poll that leaves this provider
 * unchanged passes identical props and the row is skipped.
 */
export const ProviderRow = memo(function ProviderRow(props: ProviderRowProps) {
  const { id, name, provider: p, metrics: m, handlers: h } = props;
  const [errorOpen, setErrorOpen] = useState(false);
  // Where focus goes back to when a result panel it opened is closed (it would drop to the page).
  const testButton = useRef<HTMLButtonElement>(null);
  const probeButton = useRef<HTMLButtonElement>(null);
  const reorderHandle = useRef<HTMLButtonElement>(null);
  // Gone under the focus: the row with its provider, to the heading; a control the next status takes
  // away (the last error, once the provider recovers), to the start of its row.
  const rowRef = useFocusFallback<HTMLTableRowElement>(h.heading);
  // A test's or probe's result that goes: to the button that opened it, or, gone with its row, the heading.
  const testDetailRef = useFocusFallback<HTMLTableRowElement>(() => testButton.current ?? h.heading());
  const probeDetailRef = useFocusFallback<HTMLTableRowElement>(() => probeButton.current ?? h.heading());
  const fromRowControl = useFocusFallback<HTMLButtonElement>(() => reorderHandle.current);
  const testing = Boolean(props.test?.loading);
  const probing = Boolean(props.probe?.loading);
  const badge = healthBadge(p);
  const ledger = ledgerCell(props.ledger);
  const tests = testBadges(p.last_test);
  const mapped = describeMap(p.model_map);

  function onHandleKey(e: KeyboardEvent<HTMLButtonElement>) {
    if (e.key === 'ArrowUp' || e.key === 'ArrowDown') {
      e.preventDefault();
      h.move(id, e.key === 'ArrowUp' ? -1 : 1);
    }
  }

  return (
    <>
      <tr
        ref={rowRef}
        className={`prow${p.disabled ? ' prow--disabled' : ''}${props.dropHint ? ` prow--drop-${props.dropHint}` : ''}`}
        data-testid={`provider-row-${id}`}
        data-provider-id={id}
        onDragOver={(e) => h.dragOver(id, e)}
        onDrop={(e) => h.drop(id, e)}
      >
        <td className="prow__order">
          <button
            ref={reorderHandle}
            type="button"
            className="handle"
            draggable
            aria-label={`Reorder ${name}`}
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
            <button type="button" aria-label={`Move ${name} up`} title="Move up" disabled={props.isFirst} onClick={() => h.move(id, -1)}>
              <Icon name="up" size={12} />
            </button>
            <button type="button" aria-label={`Move ${name} down`} title="Move down" disabled={props.isLast} onClick={() => h.move(id, 1)}>
              <Icon name="down" size={12} />
            </button>
          </span>
        </td>
        <td className="prow__name">
          <div className="prow__title">
            <strong className="wrap-anywhere" data-testid={`provider-name-${id}`}>
              {name}
            </strong>
            {props.isPreferred ? <span className="tag" title="Preferred provider">preferred</span> : null}
            {/* Locked, it is the one serving: "active" beside it would say nothing more, and wrap a long name's row. */}
            {props.isLocked ? (
              <span className="tag tag--lock"
                title={props.isActive ? 'Routing is locked to this provider; it served the last request' : 'Routing is locked to this provider'}>
                locked
              </span>
            ) : props.isActive ? (
              <span className="tag tag--active" title="Served the last request">active</span>
            ) : null}
          </div>
          <div className="prow__meta">
            <code className="mono prow__id" title="Provider id (config.toml, logs)">
              {id}
            </code>
            {p.has_key ? (
              <code className="mono" title="API key (preview)" data-testid={`key-preview-${id}`}>
                {p.key_preview}
              </code>
            ) : (
              <span className="text-warn">no key</span>
            )}
            {mapped ? (
              <span className="tag tag--neutral" title={`Model map: ${mapped}`}>
                model map
              </span>
            ) : null}
          </div>
          <BaseUrl id={id} url={p.base_url} />
        </td>
        <td className="prow__health">
          <div className="prow__badges">
            <Badge tone={badge.tone} title={badge.description}>
              {badge.label}
            </Badge>
            {badge.kind === 'cooldown' ? <Countdown untilMs={p.cooldown_until_unix_ms} label={`Cooldown of ${name}`} /> : null}
            {p.consecutive_failures > 0 ? (
              <span
                className="text-bad small"
                data-testid={`fails-${id}`}
                title={p.last_fail_at_unix_ms ? `Last failure ${formatDateTime(p.last_fail_at_unix_ms)}` : 'Consecutive failures'}
              >
                {countNoun(p.consecutive_failures, 'fail')}
              </span>
            ) : null}
          </div>
          {tests.length ? (
            <div className="prow__badges" data-testid={`test-badges-${id}`}>
              {tests.map((b) => (
                <span key={b.key} className={`badge badge--xs badge--${b.tone}`} title={b.title}>
                  {b.text}
                </span>
              ))}
            </div>
          ) : null}
          {p.last_error ? (
            <button
              ref={fromRowControl}
              type="button"
              className="linkish"
              title={p.last_error}
              aria-expanded={errorOpen}
              onClick={() => setErrorOpen((o) => !o)}
            >
              {/* Named by its content, not an aria-label: a screen reader gets the whole error, which the
                  screen cuts to one line (the dashboard must fit one screen) until the button opens it. */}
              <span className="sr-only">Last error of {name}:</span>{' '}
              <span className={errorOpen ? 'wrap' : 'line1'}>{p.last_error}</span>
            </button>
          ) : null}
        </td>
        <td className="num prow__traffic">
          <div data-col="requests">
            <span title="Attempts this provider answered">{formatCount(m?.ok_requests ?? 0)}</span>
            <span className="muted"> / </span>
            <span title="Attempts that failed here (the request may have been served by another provider)" className={m && m.error_requests > 0 ? 'text-bad' : undefined}>
              {formatCount(m?.error_requests ?? 0)}
            </span>
          </div>
          <div className="muted small" data-col="tokens" title={`${m?.total_tokens ?? 0} tokens`}>
            {formatCount(m?.total_tokens ?? 0)} tok
          </div>
        </td>
        <td className="prow__quota">
          <QuotaCell id={id} name={name} entry={props.quota} busy={props.usageBusy} onRefresh={h.refreshUsage} onOpen={h.openUsage} />
          <div className="small ledger">
            <span className={ledger.text === '—' ? 'muted' : undefined} title={ledger.title} data-testid={`ledger-${id}`}>
              {ledger.text}
            </span>
            {ledger.text === '—' ? null : <span className="muted"> since check</span>}
          </div>
        </td>
        <td className="prow__actions">
          <div className="actions">
            {/* Busy is soft-disabled, not disabled: a disabled button drops the focus it has. */}
            <IconButton
              ref={testButton}
              icon="flask"
              label={`Test ${name}`}
              disabled={p.disabled}
              aria-busy={testing || undefined}
              className={testing ? 'icon-btn--busy' : undefined}
              softDisabled={testing}
              onClick={() => h.test(id)}
            />
            <IconButton
              ref={probeButton}
              icon="probe"
              label={`Probe ${name}`}
              aria-busy={probing || undefined}
              softDisabled={probing}
              onClick={() => h.probe(id)}
            />
            <IconButton icon="key" label={p.has_key ? `Change key for ${name}` : `Set key for ${name}`} onClick={() => h.open('key', id)} />
            <IconButton icon="gauge" label={`Usage settings for ${name}`} onClick={() => h.open('usage', id)} />
            <IconButton icon="edit" label={`Edit ${name}`} onClick={() => h.open('edit', id)} />
            <IconButton icon="tag" label={`Rename ${name} (change its id)`} data-row-action="rename" onClick={() => h.open('rename', id)} />
            <IconButton
              icon="power"
              label={p.disabled ? `Enable ${name}` : `Disable ${name}`}
              className={p.disabled ? 'icon-btn--off' : undefined}
              onClick={() => h.setDisabled(id, !p.disabled)}
            />
            <IconButton icon="trash" tone="danger" label={`Delete ${name}`} onClick={() => h.open('delete', id)} />
          </div>
        </td>
      </tr>
      {props.test ? (
        <tr ref={testDetailRef} className="prow-detail" data-testid={`provider-test-${id}`}>
          <td colSpan={PROVIDER_COLUMNS}>
            <TestResult
              id={id}
              name={name}
              state={props.test}
              onClose={() => {
                h.closeTest(id);
                testButton.current?.focus();
              }}
            />
          </td>
        </tr>
      ) : null}
      {props.probe ? (
        <tr ref={probeDetailRef} className="prow-detail" data-testid={`provider-detail-${id}`}>
          <td colSpan={PROVIDER_COLUMNS}>
            <ProbeResult
              id={id}
              name={name}
              state={props.probe}
              unresponsive={p.status === 'unresponsive'}
              onClose={() => {
                h.closeProbe(id);
                probeButton.current?.focus();
              }}
            />
          </td>
        </tr>
      ) : null}
    </>
  );
});
