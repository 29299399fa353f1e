import { useState, type FormEvent } from 'react';
import {
  hasErrors,
  normalizeBaseUrl,
  validateApiKey,
  validateProviderForm,
  type FieldErrors,
  type ProviderFormValues,
} from '../../../logic/validate';
import type { ProviderStatus, UpsertProviderArgs } from '../../../types';
import type { ActionResult } from '../../../hooks/useActions';
import { Field } from '../../../ui/Field';
import { Modal } from '../../../ui/Modal';

interface Props {
  /** null: add a new provider. */
  id: string | null;
  provider: ProviderStatus | null;
  existingIds: readonly string[];
  onUpsert: (args: UpsertProviderArgs) => Promise<ActionResult<unknown>>;
  onSetKey: (id: string, key: string) => Promise<ActionResult<unknown>>;
  onClose: () => void;
}

type Errors = FieldErrors<keyof ProviderFormValues | 'key'>;

/** Add a provider (id, name, URL, optional key) or edit one's display name and base URL. */
export function ProviderDialog({ id, provider, existingIds, onUpsert, onSetKey, onClose }: Props) {
  const adding = id === null;
  const [values, setValues] = useState<ProviderFormValues>({
    id: id ?? '',
    display_name: provider?.display_name ?? '',
    base_url: provider?.base_url ?? '',
  });
  const [key, setKey] = useState('');
  const [errors, setErrors] = useState<Errors>({});
  const [busy, setBusy] = useState(false);

  function validate(): Errors {
    const e: Errors = validateProviderForm(values, existingIds, id);
    if (adding && key.trim()) {
      const keyError = validateApiKey(key);
      if (keyError) e.key = keyError;
    }
    return e;
  }

  async function submit(ev: FormEvent) {
    ev.preventDefault();
    const e = validate();
    setErrors(e);
    if (hasErrors(e)) return;
    const providerId = values.id.trim();
    const args: UpsertProviderArgs = { provider: providerId };
    const name = values.display_name.trim();
    const url = normalizeBaseUrl(values.base_url);
    if (adding) {
      args.base_url = url;
      if (name) args.display_name = name;
    } else {
      if (name !== provider?.display_name) args.display_name = name;
      if (url !== provider?.base_url) args.base_url = url;
      if (Object.keys(args).length === 1) return onClose();
    }
    setBusy(true);
    try {
      const r = await onUpsert(args);
      if (!r.ok) return; // the toast shows why; keep the dialog open
      if (adding && key.trim()) {
        const k = await onSetKey(providerId, key.trim());
        if (!k.ok) return;
      }
      onClose();
    } finally {
      setBusy(false);
    }
  }

  const set = (k: keyof ProviderFormValues) => (e: { target: { value: string } }) => {
    setValues((v) => ({ ...v, [k]: e.target.value }));
    if (errors[k]) setErrors((x) => ({ ...x, [k]: undefined }));
  };

  return (
    <Modal
      title={adding ? 'Add provider' : `Edit ${id}`}
      onClose={onClose}
      footer={
        <>
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" form="provider-form" className="btn btn--primary" disabled={busy}>
            {adding ? 'Add provider' : 'Save changes'}
          </button>
        </>
      }
    >
      <form id="provider-form" className="form" onSubmit={submit} noValidate>
        {adding ? (
          <Field
            label="Provider id"
            value={values.id}
            onChange={set('id')}
            error={errors.id}
            autoComplete="off"
            spellCheck={false}
            hint="Letters, digits, _ . -; used in logs and config"
          />
        ) : null}
        <Field
          label="Display name"
          value={values.display_name}
          onChange={set('display_name')}
          error={errors.display_name}
          autoComplete="off"
          placeholder={adding ? 'Defaults to the id' : undefined}
        />
        <Field
          label="Base URL"
          value={values.base_url}
          onChange={set('base_url')}
          error={errors.base_url}
          autoComplete="off"
          spellCheck={false}
          placeholder="https://relay.example.com/v1"
          inputMode="url"
        />
        {adding ? (
          <Field
            label="API key (optional)"
            type="password"
            value={key}
            onChange={(e) => {
              setKey(e.target.value);
              if (errors.key) setErrors((x) => ({ ...x, key: undefined }));
            }}
            error={errors.key}
            autoComplete="off"
            hint="Stored by the gateway; only a preview is ever shown again"
          />
        ) : null}
      </form>
    </Modal>
  );
}
