import type { ActionResult } from '../../../hooks/useActions';
import type { ProviderStatus } from '../../../types';
import { ConfirmDialog } from '../../../ui/ConfirmDialog';

interface Props {
  id: string;
  provider: ProviderStatus;
  onDelete: (id: string) => Promise<ActionResult<unknown>>;
  onClose: () => void;
}

/** "Delete <id>?" — closes once the backend has removed the provider. */
export function DeleteProviderDialog({ id, provider, onDelete, onClose }: Props) {
  return (
    <ConfirmDialog
      title={`Delete ${id}?`}
      confirmLabel="Delete provider"
      danger
      onClose={onClose}
      onConfirm={async () => {
        const r = await onDelete(id);
        if (r.ok) onClose();
      }}
    >
      <p>
        <strong>{provider.display_name}</strong> ({id}) and its key, health, metrics and history are removed. This
        cannot be undone.
      </p>
    </ConfirmDialog>
  );
}
