import { useState } from 'react';
import { downAnnouncement, sameSituation, untimed } from '../../logic/health';
import type { StatusSummary } from '../../types';
import { Icon } from '../../ui/Icon';

/** `next`, unless it says the same as the text kept (a countdown ticked): then the text kept, so a live region holding it stays quiet. */
function useSituation(next: string): string {
  const [kept, setKept] = useState(next);
  if (kept !== next && !sameSituation(kept, next)) {
    setKept(next);
    return next;
  }
  return kept;
}

/**
 * No provider can serve (all down, or all switched off): what happened and what to do, above everything else.
 * `stale`: the gateway is not answering, so this is what it last said — its countdowns would stand still.
 */
export function DownBanner({ summary, stale = false }: { summary: StatusSummary; stale?: boolean }) {
  const shown = (text: string) => (stale ? untimed(text) : text);
  const label = summary.state === 'down' ? 'All providers down' : 'No provider can serve';
  const announcement = useSituation(downAnnouncement(summary));
  // The banner itself is not live: its countdown ("may serve again in 12 s") changes with every status
  // poll, and an alert is read out whole at each change. The hidden alert below changes only when the
  // situation does (the outage starts, a provider or its failure changes, the advice changes).
  return (
    <section className="banner banner--bad" aria-label={label} data-testid="down-banner" data-state={summary.state}>
      <p className="sr-only" role="alert" data-testid="down-banner-alert">
        {announcement}
      </p>
      <Icon name="alert" size={18} />
      <div className="banner__text">
        <strong className="banner__line">
          {stale ? 'Last known: ' : null}
          {summary.line || 'All providers down'}
          {stale ? ' (the gateway is not answering now)' : null}
        </strong>
        {summary.reason ? <span className="banner__reason">{shown(summary.reason)}</span> : null}
        {summary.advice ? <span className="banner__advice">{shown(summary.advice)}</span> : null}
      </div>
    </section>
  );
}
