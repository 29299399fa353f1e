import { useEffect, useEffectEvent, useState, type FormEvent } from 'react';
import type { Actions } from '../../../hooks/useActions';
import { useBusy } from '../../../hooks/useBusy';
import { refusedField } from '../../../logic/refusal';
import { isUsageAdapter } from '../../../logic/usage';
import { hasErrors, normalizeBaseUrl, validateUsageBaseUrl, validateUsageToken, type FieldErrors } from '../../../logic/validate';
import type { ProviderStatus, UsageAdapter } from '../../../types';
import { own } from '../../../logic/own';

export interface UsageSettingsDeps {
  id: string;
  provider: ProviderStatus;
  actions: Pick<Actions, 'upsertProvider' | 'setUsageToken' | 'clearUsageToken' | 'getConfig'>;
  /** Check usage again after a change (the backend drops the old reading). */
  onRefresh: (id: string) => void;
  onClose: () => void;
}

type Errors = FieldErrors<'baseUrl' | 'token'>;

/** State and saving of the usage settings dialog: adapter, usage base URL, usage token (write-only). */
export function useUsageSettingsForm({ id, provider, actions, onRefresh, onClose }: UsageSettingsDeps) {
  /** What the form opened with. Saving sends only the fields the user changed from these, so a hand
   *  edit of config.toml made meanwhile (and reloaded into `provider`) to another field survives. */
  const [start] = useState(() => ({
    adapter: isUsageAdapter(provider.usage_adapter) ? provider.usage_adapter : ('' as UsageAdapter),
    baseUrl: provider.usage_base_url,
  }));
  const [adapter, setAdapter] = useState<UsageAdapter>(start.adapter);
  const [baseUrl, setBaseUrl] = useState(start.baseUrl);
  const [token, setToken] = useState('');
  const [hasToken, setHasToken] = useState<boolean | null>(null);
  const [errors, setErrors] = useState<Errors>({});
  /** A refusal that names neither field (shown as the dialog's error line). */
  const [formError, setFormError] = useState<string | null>(null);
  const [busy, whileBusy] = useBusy();

  function refused(message: string) {
    const field = refusedField(message);
    if (field === 'usage_base_url') setErrors({ baseUrl: message });
    else if (field === 'token') setErrors({ token: message });
    else setFormError(message);
  }

  // has_usage_token is only in get_config.
  const loadConfig = useEffectEvent(() => actions.getConfig());
  useEffect(() => {
    let live = true;
    void loadConfig().then((r) => {
      if (live && r.ok) setHasToken(!!own(r.value.providers, id)?.has_usage_token);
    });
    return () => {
      live = false;
    };
  }, [id]);

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (busy) return; // Enter in a field submits even while the submit button is soft-disabled
    const next: Errors = {};
    const urlError = validateUsageBaseUrl(baseUrl);
    if (urlError) next.baseUrl = urlError;
    const tokenError = validateUsageToken(token);
    if (tokenError) next.token = tokenError;
    setErrors(next);
    setFormError(null);
    if (hasErrors(next)) return;

    const url = normalizeBaseUrl(baseUrl);
    const changes: { usage_adapter?: UsageAdapter; usage_base_url?: string } = {};
    if (adapter !== start.adapter) changes.usage_adapter = adapter;
    if (url !== normalizeBaseUrl(start.baseUrl)) changes.usage_base_url = url;
    const newToken = token.trim();
    if (Object.keys(changes).length === 0 && !newToken) return onClose();

    await whileBusy(async () => {
      if (Object.keys(changes).length > 0) {
        const r = await actions.upsertProvider({ provider: id, ...changes });
        if (!r.ok) return refused(r.error.message); // keep the dialog open
      }
      if (newToken) {
        const r = await actions.setUsageToken(id, newToken);
        if (!r.ok) return refused(r.error.message);
      }
      onClose();
      onRefresh(id);
    });
  }

  async function clearToken() {
    if (busy) return;
    setFormError(null);
    await whileBusy(async () => {
      const r = await actions.clearUsageToken(id);
      if (r.ok) {
        onClose();
        onRefresh(id);
      } else setFormError(r.error.message);
    });
  }

  /** Any edit clears the dialog's error line and the edited field's error. */
  function edited(field?: keyof Errors) {
    setFormError(null);
    if (field && errors[field]) setErrors((x) => ({ ...x, [field]: undefined }));
  }

  return {
    adapter,
    setAdapter(value: UsageAdapter) {
      setAdapter(value);
      edited();
    },
    baseUrl,
    setBaseUrl(value: string) {
      setBaseUrl(value);
      edited('baseUrl');
    },
    token,
    setToken(value: string) {
      setToken(value);
      edited('token');
    },
    hasToken,
    errors,
    formError,
    busy,
    submit,
    clearToken,
  };
}
