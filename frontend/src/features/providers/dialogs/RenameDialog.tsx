import { useState, type FormEvent } from 'react';
import { validateProviderId } from '../../../logic/validate';
import type { ActionResult } from '../../../hooks/useActions';
import { Field } from '../../../ui/Field';
import { Modal } from '../../../ui/Modal';

interface Props {
  id: string;
  existingIds: readonly string[];
  onRename: (id: string, newId: string) => Promise<ActionResult<unknown>>;
  onClose: () => void;
}

export function RenameDialog({ id, existingIds, onRename, onClose }: Props) {
  const [value, setValue] = useState(id);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent) {
    e.preventDefault();
    const next = value.trim();
    if (next === id) return onClose();
    const err = validateProviderId(next, existingIds, id);
    setError(err);
    if (err) return;
    setBusy(true);
    try {
      const r = await onRename(id, next);
      if (r.ok) onClose();
    } finally {
      setBusy(false);
    }
  }

  return (
    <Modal
      title={`Rename ${id}`}
      size="sm"
      onClose={onClose}
      footer={
        <>
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" form="rename-form" className="btn btn--primary" disabled={busy}>
            Rename
          </button>
        </>
      }
    >
      <form id="rename-form" className="form" onSubmit={submit} noValidate>
        <Field
          label="New provider id"
          value={value}
          onChange={(e) => {
            setValue(e.target.value);
            setError(null);
          }}
          error={error}
          autoComplete="off"
          spellCheck={false}
          hint="Key, health, metrics, history and routing references move with it"
        />
      </form>
    </Modal>
  );
}
