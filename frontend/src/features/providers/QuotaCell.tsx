import { memo } from 'react';
import { formatDateTime } from '../../logic/format';
import { quotaCell } from '../../logic/usage';
import type { QuotaEntry } from '../../types';
import { Icon } from '../../ui/Icon';
import { IconButton } from '../../ui/IconButton';

interface Props {
  id: string;
  name: string;
  entry: QuotaEntry | undefined;
  busy: boolean;
  onRefresh: (id: string) => void;
  /** Opens the usage settings dialog (which shows the whole reading and error). */
  onOpen: (id: string) => void;
}

/**
 * The providers table's quota cell: what is left, an "exhausted" badge, the latest check's error
 * as an icon (the last good reading stays beside it), and the refresh button.
 */
export const QuotaCell = memo(function QuotaCell({ id, name, entry, busy, onRefresh, onOpen }: Props) {
  const cell = quotaCell(entry);
  const errorTitle = cell.error
    ? `Last usage check failed${cell.errorAt ? ` at ${formatDateTime(cell.errorAt)}` : ''}: ${cell.error}`
    : '';
  return (
    <div className="quota">
      <div className="quota__main">
        <div className="quota__line">
          <span className={`quota__value quota--${cell.tone}`} title={cell.title} data-testid={`quota-${id}`}>
            {cell.text}
          </span>
          {cell.error ? (
            <button
              type="button"
              className="quota__error"
              title={errorTitle}
              // Named for what it does as well as what it shows: it opens the usage settings. The error
              // itself is its description (the title).
              aria-label={`Usage check failed for ${name} — open usage settings`}
              data-testid={`quota-error-${id}`}
              onClick={() => onOpen(id)}
            >
              <Icon name="warning" size={14} />
            </button>
          ) : null}
        </div>
        {cell.exhausted ? (
          <span
            className="badge badge--bad badge--xs"
            title={`${cell.exhaustedReason}${cell.skipped ? ' — automatic routing skips it' : ''}`}
            data-testid={`quota-exhausted-${id}`}
          >
            exhausted
          </span>
        ) : null}
      </div>
      <IconButton
        icon="refresh"
        label={`Refresh usage for ${name}`}
        className={busy ? 'icon-btn--busy' : undefined}
        aria-busy={busy || undefined}
        softDisabled={busy}
        onClick={() => onRefresh(id)}
      />
    </div>
  );
});
