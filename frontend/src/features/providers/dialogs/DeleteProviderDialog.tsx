import type { ActionResult } from '../../../hooks/useActions';
import { ConfirmDialog } from '../../../ui/ConfirmDialog';

interface Props {
  id: string;
  name: string;
  onDelete: (id: string) => Promise<ActionResult<unknown>>;
  onClose: () => void;
}

/** "Delete <id>?" — closes once the backend has removed the provider. */
export function DeleteProviderDialog({ id, name, onDelete, onClose }: Props) {
  return (
    <ConfirmDialog
      title={`Delete ${name}?`}
      confirmLabel="Delete provider"
      danger
      onClose={onClose}
      onConfirm={async () => {
        const r = await onDelete(id);
        if (r.ok) onClose();
      }}
    >
      <p>
        <strong>{name}</strong> (id <code className="mono">{id}</code>) and its key, health, metrics and history are
        removed. This cannot be undone.
      </p>
    </ConfirmDialog>
  );
}
