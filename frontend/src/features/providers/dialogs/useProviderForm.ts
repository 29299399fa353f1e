import { useState, type FormEvent } from 'react';
import type { ActionResult } from '../../../hooks/useActions';
import { useBusy } from '../../../hooks/useBusy';
import { refusedField } from '../../../logic/refusal';
import { mapFromRows, rowsFromMap, sameMap, type ModelMapErrors, type ModelMapRow } from '../../../logic/modelMap';
import { templateById, urlPlaceholder, type TemplateId } from '../../../logic/templates';
import {
  baseUrlHasNoPath,
  hasErrors,
  normalizeBaseUrl,
  validateApiKey,
  validateBaseUrl,
  validateProviderForm,
  type FieldErrors,
  type ProviderFormValues,
} from '../../../logic/validate';
import type { ProviderStatus, UpsertProviderArgs } from '../../../types';

type Errors = FieldErrors<keyof ProviderFormValues | 'key'>;

export interface ProviderFormDeps {
  /** null: add a new provider. */
  id: string | null;
  /** Read when the form opens (its values are what a save compares with). */
  provider: ProviderStatus | null;
  existingIds: readonly string[];
  onUpsert: (args: UpsertProviderArgs) => Promise<ActionResult<unknown>>;
  onSetKey: (id: string, key: string, name?: string) => Promise<ActionResult<unknown>>;
  /** Adding: the provider was created but its key refused (`message` says so and why); the caller
   *  lets the user fix the key. */
  onKeyRefused: (id: string, key: string, message: string) => void;
  onClose: () => void;
}

/** State and submit of the Add/Edit provider dialog (the dialog itself only renders). */
export function useProviderForm({ id, provider, existingIds, onUpsert, onSetKey, onKeyRefused, onClose }: ProviderFormDeps) {
  const adding = id === null;
  const [template, setTemplate] = useState<TemplateId>('generic');
  /** What the form opened with. Saving sends only the fields the user changed from these, so a hand
   *  edit of config.toml made meanwhile (and reloaded into `provider`) to another field survives. */
  const [start] = useState(() => ({
    display_name: provider?.display_name ?? '',
    base_url: provider?.base_url ?? '',
    model_map: provider?.model_map ?? {},
  }));
  const [values, setValues] = useState<ProviderFormValues>(() => ({
    id: id ?? '',
    display_name: start.display_name,
    base_url: start.base_url,
  }));
  const [key, setKey] = useState('');
  const [rows, setRows] = useState<ModelMapRow[]>(() => rowsFromMap(start.model_map));
  const [nextKey, setNextKey] = useState(() => rows.length + 1);
  const [errors, setErrors] = useState<Errors>({});
  const [mapErrors, setMapErrors] = useState<ModelMapErrors>({});
  /** A server refusal that names no field of this form. */
  const [formError, setFormError] = useState<string | null>(null);
  const [busy, whileBusy] = useBusy();

  const url = values.base_url.trim();
  /** Shown under the Base URL while it is valid but has no path (the backend appends /responses). */
  const noPath = url !== '' && validateBaseUrl(url) === null && !urlPlaceholder(url) && baseUrlHasNoPath(url);

  function validate(): Errors {
    const e: Errors = validateProviderForm(values, existingIds, id);
    const placeholder = urlPlaceholder(values.base_url);
    if (!e.base_url && placeholder) e.base_url = `Replace ${placeholder} in the URL`;
    if (adding && key.trim()) {
      const keyError = validateApiKey(key);
      if (keyError) e.key = keyError;
    }
    return e;
  }

  async function submit(ev: FormEvent) {
    ev.preventDefault();
    if (busy) return; // Enter in a field submits even while the submit button is soft-disabled
    const e = validate();
    const mm = mapFromRows(rows);
    setErrors(e);
    setMapErrors(mm.errors);
    setFormError(null);
    if (hasErrors(e) || !mm.ok) return;
    const providerId = values.id.trim();
    const args: UpsertProviderArgs = { provider: providerId };
    const name = values.display_name.trim();
    const baseUrl = normalizeBaseUrl(values.base_url);
    if (adding) {
      // Refused (at the id field) when another window added this id since the status was read.
      args.create = true;
      args.base_url = baseUrl;
      if (name) args.display_name = name;
      const adapter = templateById(template).usageAdapter;
      if (adapter) args.usage_adapter = adapter;
      if (Object.keys(mm.map).length) args.model_map = mm.map;
    } else {
      if (name !== start.display_name.trim()) args.display_name = name;
      if (baseUrl !== normalizeBaseUrl(start.base_url)) args.base_url = baseUrl;
      if (!sameMap(mm.map, start.model_map)) args.model_map = mm.map;
      if (Object.keys(args).length === 1) return onClose();
    }
    await whileBusy(async () => {
      const r = await onUpsert(args);
      if (!r.ok) {
        // Shown in the dialog (no toast over the form): at the field it names, else under the form.
        const field = refusedField(r.error.message);
        if (field === 'id' || field === 'display_name' || field === 'base_url') setErrors({ [field]: r.error.message });
        else setFormError(r.error.message);
        return;
      }
      if (adding && key.trim()) {
        const k = await onSetKey(providerId, key.trim(), name || providerId);
        // The provider exists now: adding it again would say "already exists", so the key is fixed there.
        if (!k.ok) {
          return onKeyRefused(providerId, key.trim(), `${name || providerId} was added, but its key was not saved: ${k.error.message}`);
        }
      }
      onClose();
    });
  }

  return {
    adding,
    template,
    values,
    key,
    rows,
    errors,
    mapErrors,
    formError,
    busy,
    noPath,
    submit,
    /** Picking a template fills in its URL shape (unless a URL was typed) and notes its usage adapter. */
    pickTemplate(next: TemplateId) {
      const t = templateById(next);
      setTemplate(next);
      setValues((v) => {
        const typed = v.base_url.trim() !== '' && v.base_url !== templateById(template).baseUrl;
        return typed ? v : { ...v, base_url: t.baseUrl };
      });
      setErrors((x) => ({ ...x, base_url: undefined }));
      setFormError(null);
    },
    setField(k: keyof ProviderFormValues, value: string) {
      setValues((v) => ({ ...v, [k]: value }));
      if (errors[k]) setErrors((x) => ({ ...x, [k]: undefined }));
      setFormError(null);
    },
    setKey(value: string) {
      setKey(value);
      if (errors.key) setErrors((x) => ({ ...x, key: undefined }));
      setFormError(null);
    },
    setRow(rowKey: number, side: 'from' | 'to', value: string) {
      setRows((rs) => rs.map((r) => (r.key === rowKey ? { ...r, [side]: value } : r)));
      if (mapErrors[rowKey]) setMapErrors(({ [rowKey]: _fixed, ...rest }) => rest);
      setFormError(null);
    },
    addRow() {
      setRows((rs) => [...rs, { key: nextKey, from: '', to: '' }]);
      setNextKey((k) => k + 1);
      setFormError(null);
    },
    removeRow(rowKey: number) {
      setRows((rs) => rs.filter((r) => r.key !== rowKey));
      setMapErrors(({ [rowKey]: _gone, ...rest }) => rest);
      setFormError(null);
    },
  };
}

export type ProviderForm = ReturnType<typeof useProviderForm>;
