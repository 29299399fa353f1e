import type { StatusSummary } from '../../types';
import { Icon } from '../../ui/Icon';

/** Every provider is down: what happened and what to do, above everything else. */
export function DownBanner({ summary }: { summary: StatusSummary }) {
  return (
    <section className="banner banner--bad" role="alert" aria-label="All providers down" data-testid="down-banner">
      <Icon name="alert" size={18} />
      <div className="banner__text">
        <strong className="banner__line">{summary.line || 'All providers down'}</strong>
        {summary.reason ? <span className="banner__reason">{summary.reason}</span> : null}
        {summary.advice ? <span className="banner__advice">{summary.advice}</span> : null}
      </div>
    </section>
  );
}
