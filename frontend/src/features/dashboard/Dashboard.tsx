import type { Actions } from '../../hooks/useActions';
import type { Status } from '../../types';
import { EventsPanel } from '../events/EventsPanel';
import { ProvidersPanel } from '../providers/ProvidersPanel';
import { RoutingCard } from '../routing/RoutingCard';
import { StatusCard } from './StatusCard';

interface Props {
  status: Status;
  token: string | null;
  actions: Actions;
  refresh: () => Promise<void>;
}

/** The one-screen dashboard: layout only, data comes in through props. */
export function Dashboard({ status, token, actions, refresh }: Props) {
  return (
    <main className="dash">
      <div className="dash__top">
        <StatusCard
          gatewayUrl={status.gateway_url}
          preferredProvider={status.preferred_provider}
          manualOverride={status.manual_override}
          activeProvider={status.active_provider}
          activeReason={status.active_reason}
          token={token}
          onRotateToken={actions.rotateGatewayToken}
        />
        <RoutingCard
          routing={status.routing}
          providerIds={status.provider_order}
          providers={status.providers}
          preferredProvider={status.preferred_provider}
          manualOverride={status.manual_override}
          onLock={actions.setManualOverride}
          onPreferred={actions.setPreferredProvider}
          onSaveRouting={actions.updateRouting}
        />
      </div>
      <ProvidersPanel
        providerOrder={status.provider_order}
        providers={status.providers}
        metrics={status.metrics}
        quota={status.quota}
        ledgers={status.ledgers}
        preferredProvider={status.preferred_provider}
        activeProvider={status.active_provider}
        manualOverride={status.manual_override}
        actions={actions}
        refresh={refresh}
      />
      <EventsPanel
        events={status.recent_events}
        unseen={status.unseen_events}
        providerOrder={status.provider_order}
        onClearSeen={actions.markEventsSeen}
      />
    </main>
  );
}
