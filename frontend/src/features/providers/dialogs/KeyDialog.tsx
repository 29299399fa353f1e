import { useState, type FormEvent } from 'react';
import { useBusy } from '../../../hooks/useBusy';
import { refusedField } from '../../../logic/refusal';
import { validateApiKey } from '../../../logic/validate';
import type { ActionResult } from '../../../hooks/useActions';
import type { ProviderStatus } from '../../../types';
import { Field } from '../../../ui/Field';
import { Modal } from '../../../ui/Modal';
import { Button } from '../../../ui/Button';

interface Props {
  id: string;
  name: string;
  provider: ProviderStatus;
  /** Opened after Add provider: the key it refused and why (shown at the field, to fix and save). */
  retry?: { key: string; error: string };
  onSetKey: (id: string, key: string) => Promise<ActionResult<unknown>>;
  onClearKey: (id: string) => Promise<ActionResult<unknown>>;
  onClose: () => void;
}

/** Set or clear a provider's API key. The key is write-only: only `key_preview` is ever shown. */
export function KeyDialog({ id, name, provider, retry, onSetKey, onClearKey, onClose }: Props) {
  const [key, setKey] = useState(retry?.key ?? '');
  const [error, setError] = useState<string | null>(retry?.error ?? null);
  /** A refusal that is not about the key itself. */
  const [formError, setFormError] = useState<string | null>(null);
  const [busy, whileBusy] = useBusy();

  function refused(message: string) {
    if (refusedField(message) === 'key') setError(message);
    else setFormError(message);
  }

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (busy) return; // Enter in a field submits even while the submit button is soft-disabled
    const err = validateApiKey(key);
    setError(err);
    setFormError(null);
    if (err) return;
    await whileBusy(async () => {
      const r = await onSetKey(id, key.trim());
      if (r.ok) onClose();
      else refused(r.error.message);
    });
  }

  async function clear() {
    if (busy) return;
    setFormError(null);
    await whileBusy(async () => {
      const r = await onClearKey(id);
      if (r.ok) onClose();
      else setFormError(r.error.message);
    });
  }

  return (
    <Modal
      title={`API key for ${name}`}
      size="sm"
      onClose={onClose}
      error={formError}
      footer={
        <>
          {provider.has_key ? (
            <Button type="button" className="btn btn--danger footer-left" softDisabled={busy} onClick={() => void clear()}>
              Clear key
            </Button>
          ) : null}
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <Button type="submit" form="key-form" className="btn btn--primary" aria-busy={busy || undefined} softDisabled={busy}>
            Save key
          </Button>
        </>
      }
    >
      <form id="key-form" className="form" onSubmit={submit} noValidate>
        <p className="muted">
          Current key:{' '}
          {provider.has_key ? <code className="mono">{provider.key_preview}</code> : <span>none set</span>}
        </p>
        <Field
          label="New API key"
          type="password"
          value={key}
          onChange={(e) => {
            setKey(e.target.value);
            setError(null);
            setFormError(null);
          }}
          error={error}
          autoComplete="off"
          spellCheck={false}
        />
      </form>
    </Modal>
  );
}
