import { useState } from 'react';
import type { ActionResult } from '../../../hooks/useActions';
import { nameWithoutId } from '../../../logic/names';
import { ConfirmDialog } from '../../../ui/ConfirmDialog';

interface Props {
  id: string;
  name: string;
  onDelete: (id: string) => Promise<ActionResult<unknown>>;
  /** The provider was deleted (the dialog is done; its row goes with the next status). */
  onDeleted: () => void;
  onClose: () => void;
}

/** "Delete <id>?" — says what goes and what stays; closes once the backend has removed the provider. */
export function DeleteProviderDialog({ id, name, onDelete, onDeleted, onClose }: Props) {
  const [error, setError] = useState<string | null>(null);
  const displayName = nameWithoutId(name, id);
  return (
    <ConfirmDialog
      title={`Delete ${name}?`}
      confirmLabel="Delete provider"
      danger
      error={error}
      onClose={onClose}
      onConfirm={async () => {
        setError(null);
        const r = await onDelete(id);
        if (r.ok) onDeleted();
        else setError(r.error.message);
      }}
    >
      <p>
        {displayName === null ? (
          <code className="mono">{id}</code>
        ) : (
          <>
            <strong>{displayName}</strong> (id <code className="mono">{id}</code>)
          </>
        )}{' '}
        is removed with its API key, usage token,
        health, metrics and quota reading. This cannot be undone.
      </p>
      <p className="muted">Its rows in the request log and its events stay, under its id.</p>
    </ConfirmDialog>
  );
}
