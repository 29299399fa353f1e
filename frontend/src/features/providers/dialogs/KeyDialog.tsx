import { useState, type FormEvent } from 'react';
import { useBusy } from '../../../hooks/useBusy';
import { validateApiKey } from '../../../logic/validate';
import type { ActionResult } from '../../../hooks/useActions';
import type { ProviderStatus } from '../../../types';
import { Field } from '../../../ui/Field';
import { Modal } from '../../../ui/Modal';

interface Props {
  id: string;
  name: string;
  provider: ProviderStatus;
  onSetKey: (id: string, key: string) => Promise<ActionResult<unknown>>;
  onClearKey: (id: string) => Promise<ActionResult<unknown>>;
  onClose: () => void;
}

/** Set or clear a provider's API key. The key is write-only: only `key_preview` is ever shown. */
export function KeyDialog({ id, name, provider, onSetKey, onClearKey, onClose }: Props) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, whileBusy] = useBusy();

  async function submit(e: FormEvent) {
    e.preventDefault();
    const err = validateApiKey(key);
    setError(err);
    if (err) return;
    await whileBusy(async () => {
      const r = await onSetKey(id, key.trim());
      if (r.ok) onClose();
    });
  }

  async function clear() {
    await whileBusy(async () => {
      const r = await onClearKey(id);
      if (r.ok) onClose();
    });
  }

  return (
    <Modal
      title={`API key for ${name}`}
      size="sm"
      onClose={onClose}
      footer={
        <>
          {provider.has_key ? (
            <button type="button" className="btn btn--danger footer-left" onClick={clear} disabled={busy}>
              Clear key
            </button>
          ) : null}
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" form="key-form" className="btn btn--primary" disabled={busy}>
            Save key
          </button>
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
          }}
          error={error}
          autoComplete="off"
          spellCheck={false}
        />
      </form>
    </Modal>
  );
}
