import type { StatusSummary } from '../../types';
import { Icon } from '../../ui/Icon';

/** No provider can serve (all down, or all switched off): what happened and what to do, above everything else. */
export function DownBanner({ summary }: { summary: StatusSummary }) {
  const label = summary.state === 'down' ? 'All providers down' : 'No provider can serve';
  return (
    <section className="banner banner--bad" role="alert" aria-label={label} data-testid="down-banner" data-state={summary.state}>
      <Icon name="alert" size={18} />
      <div className="banner__text">
        <strong className="banner__line">{summary.line || 'All providers down'}</strong>
        {summary.reason ? <span className="banner__reason">{summary.reason}</span> : null}
        {summary.advice ? <span className="banner__advice">{summary.advice}</span> : null}
      </div>
    </section>
  );
}
