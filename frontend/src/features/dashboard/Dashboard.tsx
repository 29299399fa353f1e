import type { Bridge } from '../../bridge';
import type { ActionResult, Actions } from '../../hooks/useActions';
import { showsDownBanner } from '../../logic/health';
import { returnTarget } from '../../logic/routing';
import type { NameMap } from '../../logic/names';
import type { Status, TokenResult } from '../../types';
import { EventsPanel } from '../events/EventsPanel';
import { ProvidersPanel } from '../providers/ProvidersPanel';
import { RoutingCard } from '../routing/RoutingCard';
import type { RoutingFormKeeper } from '../routing/useRoutingForm';
import { DownBanner } from './DownBanner';
import { StatusCard } from './StatusCard';

interface Props {
  bridge: Bridge;
  status: Status;
  names: NameMap;
  token: string | null;
  actions: Actions;
  refresh: () => Promise<void>;
  onRotateToken: () => Promise<ActionResult<TokenResult>>;
  /** The last status could not be refreshed: what it says is the last known state. */
  stale?: boolean;
  /** The Routing card's unsaved edits while another page is shown. */
  routingMemory?: RoutingFormKeeper;
}

/** The dashboard: layout only, data comes in through props. */
export function Dashboard({ bridge, status, names, token, actions, refresh, onRotateToken, stale = false, routingMemory }: Props) {
  return (
    <main className="dash" aria-labelledby="dashboard-title">
      {/* Like the Requests and Usage pages, the page has its level-1 heading; hidden, because the dashboard
          must fit one screen and the header's current link already shows where you are. Focusable: where the
          focus goes when what held it (a dismissed notification) is gone. */}
      <h1 id="dashboard-title" className="sr-only" tabIndex={-1}>
        Dashboard
      </h1>
      {status.summary && showsDownBanner(status.summary, status.provider_order.length) ? <DownBanner summary={status.summary} stale={stale} /> : null}
      <div className="dash__top">
        <StatusCard
          gatewayUrl={status.gateway_url}
          names={names}
          summary={status.summary ?? null}
          preferredProvider={status.preferred_provider}
          explicitPreferred={status.routing.preferred_provider ?? status.preferred_provider ?? ''}
          manualOverride={status.manual_override}
          activeProvider={status.active_provider}
          activeReason={status.active_reason}
          returnTo={returnTarget({
            autoReturn: status.routing.auto_return_to_preferred,
            manualOverride: status.manual_override,
            activeProvider: status.active_provider,
            preferredProvider: status.preferred_provider,
          })}
          onReturnTo={actions.returnToPreferred}
          requestsToday={status.requests_today ?? null}
          token={token}
          onRotateToken={onRotateToken}
          stale={stale}
        />
        <RoutingCard
          routing={status.routing}
          providerIds={status.provider_order}
          providers={status.providers}
          names={names}
          renamed={status.renamed}
          preferredProvider={status.preferred_provider}
          manualOverride={status.manual_override}
          onLock={actions.setManualOverride}
          onSaveRouting={actions.updateRouting}
          memory={routingMemory}
        />
      </div>
      <ProvidersPanel
        providerOrder={status.provider_order}
        providers={status.providers}
        metrics={status.metrics}
        quota={status.quota}
        ledgers={status.ledgers}
        names={names}
        preferredProvider={status.preferred_provider}
        activeProvider={status.active_provider}
        manualOverride={status.manual_override}
        actions={actions}
        refresh={refresh}
      />
      <EventsPanel
        bridge={bridge}
        events={status.recent_events}
        unseen={status.unseen_events}
        providerOrder={status.provider_order}
        names={names}
        renamed={status.renamed}
        onClearSeen={actions.markEventsSeen}
        nowMs={status.now_unix_ms}
      />
    </main>
  );
}
