import { useId, useRef } from 'react';
import { flushSync } from 'react-dom';
import { ANY_MODEL } from '../../../logic/modelMap';
import { PROVIDER_TEMPLATES, templateById, type TemplateId } from '../../../logic/templates';
import { withV1Path } from '../../../logic/validate';
import { Field } from '../../../ui/Field';
import { IconButton } from '../../../ui/IconButton';
import { Icon } from '../../../ui/Icon';
import { Modal } from '../../../ui/Modal';
import { useProviderForm, type ProviderForm, type ProviderFormDeps } from './useProviderForm';
import { Button } from '../../../ui/Button';

/**
 * Add a provider (template, id, name, URL, optional key, model map) or edit one's display name,
 * base URL and model map.
 */
export function ProviderDialog({ name, ...props }: ProviderFormDeps & { /** As its row names it. */ name: string }) {
  const uid = useId();
  const form = useProviderForm(props);
  const { adding, values, errors } = form;
  const template = templateById(form.template);
  const title = adding ? 'Add provider' : `Edit ${name}`;

  return (
    <Modal
      title={title}
      onClose={props.onClose}
      error={form.formError}
      footer={
        <>
          <button type="button" className="btn" onClick={props.onClose}>
            Cancel
          </button>
          <Button
            type="submit"
            form={`${uid}-form`}
            className="btn btn--primary"
            aria-busy={form.busy || undefined}
            softDisabled={form.busy}
          >
            {adding ? 'Add provider' : 'Save changes'}
          </Button>
        </>
      }
    >
      <form id={`${uid}-form`} className="form" onSubmit={(e) => void form.submit(e)} noValidate>
        {adding ? null : (
          <p className="muted small">
            Provider id <code className="mono">{props.id}</code> (changed with “Rename” in its row)
          </p>
        )}
        {adding ? (
          <Field
            label="Provider id"
            value={values.id}
            onChange={(e) => form.setField('id', e.target.value)}
            error={errors.id}
            autoComplete="off"
            spellCheck={false}
            hint="Letters, digits, _ . -; used in config.toml and logs"
          />
        ) : null}
        <Field
          label="Display name"
          value={values.display_name}
          onChange={(e) => form.setField('display_name', e.target.value)}
          error={errors.display_name}
          autoComplete="off"
          placeholder={adding ? 'Defaults to the id' : undefined}
          hint="How the provider is named everywhere in the app (up to 200 characters)"
        />
        {adding ? (
          <div className="field">
            <label htmlFor={`${uid}-template`}>Template</label>
            <select
              id={`${uid}-template`}
              value={form.template}
              aria-describedby={`${uid}-template-hint`}
              onChange={(e) => form.pickTemplate(e.target.value as TemplateId)}
            >
              {PROVIDER_TEMPLATES.map((t) => (
                <option key={t.id} value={t.id}>
                  {t.label}
                </option>
              ))}
            </select>
            <span id={`${uid}-template-hint`} className="field-hint">
              {template.hint}
              {template.usageAdapter ? ` Usage adapter: ${template.usageAdapter}.` : ''}
            </span>
          </div>
        ) : null}
        <Field
          label="Base URL"
          value={values.base_url}
          onChange={(e) => form.setField('base_url', e.target.value)}
          error={errors.base_url}
          autoComplete="off"
          spellCheck={false}
          placeholder="https://relay.example.com/v1"
          inputMode="url"
          hint={
            form.noPath ? (
              <span className="text-warn" data-testid="base-url-no-path">
                This URL has no path: most providers expect …/v1 (e.g. {withV1Path(values.base_url)}).
                /responses and /models are appended to it.
              </span>
            ) : (
              '/responses and /models are appended to it'
            )
          }
        />
        {adding ? (
          <Field
            label="API key (optional)"
            type="password"
            value={form.key}
            onChange={(e) => form.setKey(e.target.value)}
            error={errors.key}
            autoComplete="off"
            hint="Stored by the gateway; only a preview is ever shown again"
          />
        ) : null}
        <ModelMapEditor form={form} uid={uid} />
      </form>
    </Modal>
  );
}

function ModelMapEditor({ form, uid }: { form: ProviderForm; uid: string }) {
  const rowsRef = useRef<HTMLDivElement>(null);
  const addButton = useRef<HTMLButtonElement>(null);

  /** Its button goes with the row: focus stays in the list, on the row that takes its place (or the one
   *  before it, or Add mapping once none is left), not on <body>. */
  function removeRow(rowKey: number, index: number) {
    flushSync(() => form.removeRow(rowKey));
    const buttons = rowsRef.current?.querySelectorAll<HTMLButtonElement>('[data-remove-mapping]') ?? [];
    (buttons[Math.min(index, buttons.length - 1)] ?? addButton.current)?.focus();
  }

  return (
    <fieldset className="modelmap" aria-describedby={`${uid}-mm-hint`}>
      <legend>Model map</legend>
      <p id={`${uid}-mm-hint`} className="field-hint">
        The model Codex asks for → the model this provider should get. {ANY_MODEL} stands for any other model. Empty:
        models are passed through unchanged.
      </p>
      {form.rows.length ? (
        <div className="modelmap__rows" role="list" ref={rowsRef}>
          {form.rows.map((row, i) => {
            const e = form.mapErrors[row.key];
            return (
              <div key={row.key} className="modelmap__row" role="listitem">
                <input
                  aria-label={`Requested model ${i + 1}`}
                  placeholder="gpt-5.5 or *"
                  value={row.from}
                  spellCheck={false}
                  aria-invalid={e?.from ? true : undefined}
                  onChange={(ev) => form.setRow(row.key, 'from', ev.target.value)}
                />
                <Icon name="chevron-right" size={14} />
                <input
                  aria-label={`Provider model ${i + 1}`}
                  placeholder="openai/gpt-5.5"
                  value={row.to}
                  spellCheck={false}
                  aria-invalid={e?.to ? true : undefined}
                  onChange={(ev) => form.setRow(row.key, 'to', ev.target.value)}
                />
                <IconButton
                  icon="x"
                  label={`Remove mapping ${i + 1}`}
                  data-remove-mapping=""
                  onClick={() => removeRow(row.key, i)}
                />
                {e ? (
                  <span className="field-error modelmap__error" role="alert">
                    {[e.from, e.to].filter(Boolean).join('; ')}
                  </span>
                ) : null}
              </div>
            );
          })}
        </div>
      ) : null}
      <button type="button" className="btn btn--small" ref={addButton} onClick={form.addRow}>
        <Icon name="plus" size={14} /> Add mapping
      </button>
    </fieldset>
  );
}
