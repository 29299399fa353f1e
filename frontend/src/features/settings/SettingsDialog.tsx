import { useId } from 'react';
import type { Actions } from '../../hooks/useActions';
import { useToasts } from '../../hooks/toasts';
import { NOTIFY_TOGGLES, settingsRange, type UiToggle } from '../../logic/settings';
import { Field } from '../../ui/Field';
import { Modal } from '../../ui/Modal';
import { useSettingsForm } from './useSettingsForm';
import { Button } from '../../ui/Button';

interface Props {
  actions: Pick<Actions, 'getConfig' | 'updateUi' | 'updateRequestLog'>;
  onClose: () => void;
  /** Told after a save, before the dialog closes: what shows these settings elsewhere reads them again. */
  onSaved?: () => void;
}

/** App settings: start hidden, start with the system, notifications, and how long the request log is kept. */
export function SettingsDialog({ actions, onClose, onSaved }: Props) {
  const uid = useId();
  const toasts = useToasts();
  const form = useSettingsForm(actions, () => {
    toasts.push({ tone: 'success', title: 'Settings saved' });
    onSaved?.();
    onClose();
  });
  const { draft, config, plan } = form;
  const autostart = config?.autostart;

  const check = (key: UiToggle, label: string, hint?: string, disabled?: boolean) =>
    draft ? (
      <div className="check check--block" title={hint}>
        <input
          id={`${uid}-${key}`}
          type="checkbox"
          checked={draft.ui[key]}
          disabled={disabled}
          onChange={(e) => form.toggle(key, e.target.checked)}
        />
        <label htmlFor={`${uid}-${key}`}>{label}</label>
      </div>
    ) : null;

  return (
    <Modal
      title="Settings"
      onClose={onClose}
      error={form.saveError}
      footer={
        <>
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <Button
            type="submit"
            form={`${uid}-form`}
            className="btn btn--primary"
            disabled={!draft || (plan !== null && Object.keys(plan.errors).length > 0)}
            aria-busy={form.busy || undefined}
            softDisabled={form.busy}
          >
            Save settings
          </Button>
        </>
      }
    >
      {form.loadError ? (
        <p className="text-bad" role="alert">
          {form.loadError}
        </p>
      ) : !draft || !config ? (
        <p className="muted">Loading…</p>
      ) : (
        <form id={`${uid}-form`} className="form" onSubmit={(e) => void form.save(e)} noValidate>
          <fieldset className="fieldset">
            <legend>Desktop app</legend>
            {check('start_hidden', 'Start hidden in the tray', 'The window stays closed at start; the tray icon opens it')}
            {check('autostart', 'Start with the system', 'Adds API Router to the programs started when you log in', !autostart?.supported)}
            <p className="field-hint" data-testid="autostart-info">
              {autostart?.supported
                ? `${autostart.installed ? 'Installed' : 'Would be installed'} at ${autostart.location}`
                : 'Starting with the system is not supported on this system.'}
            </p>
          </fieldset>
          <fieldset className="fieldset">
            <legend>Notifications</legend>
            {NOTIFY_TOGGLES.map((t) => (
              <div key={t.key}>{check(t.key, t.label, t.hint)}</div>
            ))}
            <Field
              label="Quota warning below (%)"
              inputMode="decimal"
              className="input--num"
              value={draft.quotaPercent}
              disabled={!draft.ui.notify_quota}
              error={plan?.errors.quotaPercent}
              hint={settingsRange('quotaPercent')}
              onChange={(e) => form.setText('quotaPercent', e.target.value)}
            />
          </fieldset>
          <fieldset className="fieldset">
            <legend>Request log</legend>
            <div className="fieldset__row">
              <Field
                label="Keep requests for (days)"
                inputMode="decimal"
                className="input--num"
                value={draft.retentionDays}
                error={plan?.errors.retentionDays}
                hint={settingsRange('retentionDays')}
                onChange={(e) => form.setText('retentionDays', e.target.value)}
              />
              <Field
                label="Keep at most (rows)"
                inputMode="numeric"
                className="input--num"
                value={draft.maxRows}
                error={plan?.errors.maxRows}
                hint={settingsRange('maxRows')}
                onChange={(e) => form.setText('maxRows', e.target.value)}
              />
            </div>
          </fieldset>
        </form>
      )}
    </Modal>
  );
}
