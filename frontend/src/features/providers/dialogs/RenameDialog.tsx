import { useState, type FormEvent } from 'react';
import { useBusy } from '../../../hooks/useBusy';
import { refusedField } from '../../../logic/refusal';
import { validateProviderId } from '../../../logic/validate';
import type { ActionResult } from '../../../hooks/useActions';
import { Field } from '../../../ui/Field';
import { Modal } from '../../../ui/Modal';
import { Button } from '../../../ui/Button';

interface Props {
  id: string;
  name: string;
  existingIds: readonly string[];
  onRename: (id: string, newId: string) => Promise<ActionResult<unknown>>;
  /** The id was changed (the dialog is done). */
  onRenamed: (newId: string) => void;
  onClose: () => void;
}

/** Change a provider's id (its display name is edited in the Edit dialog). */
export function RenameDialog({ id, name, existingIds, onRename, onRenamed, onClose }: Props) {
  const [value, setValue] = useState(id);
  const [error, setError] = useState<string | null>(null);
  const [formError, setFormError] = useState<string | null>(null);
  const [busy, whileBusy] = useBusy();

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (busy) return; // Enter in a field submits even while the submit button is soft-disabled
    const next = value.trim();
    if (next === id) return onClose();
    const err = validateProviderId(next, existingIds, id);
    setError(err);
    setFormError(null);
    if (err) return;
    await whileBusy(async () => {
      const r = await onRename(id, next);
      if (r.ok) onRenamed(next);
      else if (refusedField(r.error.message) === 'id') setError(r.error.message);
      else setFormError(r.error.message);
    });
  }

  return (
    <Modal
      title={`Rename ${name}: a new provider id`}
      size="sm"
      onClose={onClose}
      error={formError}
      footer={
        <>
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <Button type="submit" form="rename-form" className="btn btn--primary" aria-busy={busy || undefined} softDisabled={busy}>
            Rename
          </Button>
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
            setFormError(null);
          }}
          error={error}
          autoComplete="off"
          spellCheck={false}
          hint="Used in config.toml and logs. Key, health, metrics, history and routing references move with it"
        />
      </form>
    </Modal>
  );
}
