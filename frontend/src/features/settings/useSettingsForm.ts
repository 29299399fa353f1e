import { useEffect, useEffectEvent, useState, type FormEvent } from 'react';
import type { Actions } from '../../hooks/useActions';
import { useBusy } from '../../hooks/useBusy';
import { planSettings, settingsDraft, type SettingsDraft } from '../../logic/settings';
import type { Config, UiSettings } from '../../types';

/** Loads get_config, keeps the draft, and saves with update_ui / update_request_log (only what changed). */
export function useSettingsForm(
  actions: Pick<Actions, 'getConfig' | 'updateUi' | 'updateRequestLog'>,
  onSaved: () => void,
) {
  const [config, setConfig] = useState<Config | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [draft, setDraft] = useState<SettingsDraft | null>(null);
  const [saveError, setSaveError] = useState<string | null>(null);
  const [busy, whileBusy] = useBusy();
  // Loaded once, when the dialog opens: loading again would put the saved values over the user's edits.
  const loadConfig = useEffectEvent(() => actions.getConfig());

  useEffect(() => {
    let live = true;
    void loadConfig().then((r) => {
      if (!live) return;
      if (r.ok) {
        setConfig(r.value);
        setDraft(settingsDraft(r.value.ui, r.value.request_log));
      } else {
        setLoadError(r.error.message);
      }
    });
    return () => {
      live = false;
    };
  }, []);

  const plan = config && draft ? planSettings(draft, config.ui, config.request_log) : null;
  const changed = !!plan && (Object.keys(plan.ui).length > 0 || Object.keys(plan.requestLog).length > 0);

  return {
    config,
    loadError,
    /** Why the server refused the last save (shown in the dialog, not in a toast over it). */
    saveError,
    draft,
    plan,
    busy,
    /** Any edit clears the last save's refusal (it was about the values before the edit). */
    toggle(key: Exclude<keyof UiSettings, 'notify_quota_percent'>, on: boolean) {
      setDraft((d) => (d ? { ...d, ui: { ...d.ui, [key]: on } } : d));
      setSaveError(null);
    },
    setText(key: 'quotaPercent' | 'retentionDays' | 'maxRows', text: string) {
      setDraft((d) => (d ? { ...d, [key]: text } : d));
      setSaveError(null);
    },
    async save(e: FormEvent) {
      e.preventDefault();
      // Enter in a field submits even while Save is soft-disabled.
      if (busy || !plan || Object.keys(plan.errors).length > 0) return;
      if (!changed) return onSaved();
      setSaveError(null);
      await whileBusy(async () => {
        let latest = config;
        if (Object.keys(plan.ui).length) {
          const r = await actions.updateUi(plan.ui);
          if (!r.ok) return setSaveError(r.error.message); // e.g. the login item could not be written
          latest = r.value;
        }
        if (Object.keys(plan.requestLog).length) {
          const r = await actions.updateRequestLog(plan.requestLog);
          if (!r.ok) {
            if (latest) setConfig(latest);
            return setSaveError(r.error.message);
          }
        }
        onSaved();
      });
    },
  };
}
