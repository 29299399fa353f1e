import { useId, useRef } from 'react';
import { nameOf, type NameMap } from '../../logic/names';
import { NUMERIC_ROUTING_FIELDS, type NumericFieldSpec } from '../../logic/routing';
import type { ProviderId, ProviderStatus, RoutingConfig, RoutingUpdate } from '../../types';
import { useRoutingForm, type RoutingForm, type RoutingFormKeeper } from './useRoutingForm';
import { Button } from '../../ui/Button';
import { own } from '../../logic/own';

interface Props {
  routing: RoutingConfig;
  providerIds: readonly string[];
  providers: Record<string, ProviderStatus>;
  names: NameMap;
  /** The status's `renamed`: an unsaved preferred provider follows a renamed provider to its id now. */
  renamed?: Readonly<Record<ProviderId, ProviderId>>;
  /** The preferred provider in effect (the first in the list when none is chosen). */
  preferredProvider: string | null;
  manualOverride: string | null;
  onLock: (provider: string | null) => Promise<unknown>;
  onSaveRouting: (values: RoutingUpdate) => Promise<{ ok: boolean }>;
  /** Unsaved edits kept while another page is shown (held by the app, which outlives the dashboard). */
  memory?: RoutingFormKeeper;
}

const NO_RENAMES: Readonly<Record<ProviderId, ProviderId>> = {};

/** The lock (applies at once) and the routing settings (one Save, one update_routing call). */
export function RoutingCard(p: Props) {
  const uid = useId();
  const lockSelect = useRef<HTMLSelectElement>(null);
  const backToAutomatic = () => {
    // The button leaves with the lock; the focus goes to the choice it changed, not to the page body.
    lockSelect.current?.focus();
    void p.onLock(null);
  };
  const preferredSelect = useRef<HTMLSelectElement>(null);
  const form = useRoutingForm(p.routing, p.providerIds, p.renamed ?? NO_RENAMES, p.onSaveRouting, preferredSelect, p.memory);
  const n = (id: string) => nameOf(p.names, id);
  const { draft, plan } = form;
  const validCount = Object.keys(plan.values).length;
  // Which provider "first in list" means now: the backend's answer when that is the setting, else
  // the first enabled provider in the order.
  const firstInList =
    (p.routing.preferred_provider === '' && p.preferredProvider) ||
    (p.providerIds.find((id) => !own(p.providers, id)?.disabled) ?? p.providerIds[0] ?? '');
  const firstInListLabel = `First in list${firstInList ? ` (${n(firstInList)})` : ''}`;
  // One line on a wide screen, cut with "…": the whole of it is its tooltip too.
  const preferredNote =
    draft.preferred_provider !== ''
      ? 'Stays put when you reorder the providers.'
      : firstInList
        ? `Follows the list: now ${n(firstInList)}. Reordering changes it.`
        : 'Follows the list.';
  const preferredGone = draft.preferred_provider !== '' && !p.providerIds.includes(draft.preferred_provider);

  return (
    <section className="card card--routing" aria-labelledby="routing-title">
      {/* "Back to automatic" sits in the heading: in the lock's row it would push the preferred provider onto a
          row of its own, and the dashboard past one screen at 1320×720. */}
      <div className="card__head">
        <h2 id="routing-title" className="card__title">
          Routing
        </h2>
        {p.manualOverride ? (
          <button type="button" className="btn btn--small btn--warn" onClick={backToAutomatic}>
            Back to automatic
          </button>
        ) : null}
      </div>

      <form className="routing-form" onSubmit={(e) => void form.save(e)} noValidate aria-label="Routing settings">
        <div className="routing-form__top">
          {/* The lock applies at once (not with Save); beside the preferred provider, the card is a row shorter. */}
          <div className="inline-field">
            <label htmlFor={`${uid}-lock`}>Lock routing to</label>
            <select
              id={`${uid}-lock`}
              ref={lockSelect}
              value={p.manualOverride ?? ''}
              title={p.manualOverride ? n(p.manualOverride) : 'Automatic (no lock)'}
              onChange={(e) => void p.onLock(e.target.value || null)}
            >
              <option value="">Automatic (no lock)</option>
              {p.providerIds.map((id) => (
                <option key={id} value={id} disabled={own(p.providers, id)?.disabled && id !== p.manualOverride}>
                  {n(id)}
                  {own(p.providers, id)?.disabled ? ' (disabled)' : ''}
                </option>
              ))}
            </select>
          </div>
          <div className="inline-field">
            <label htmlFor={`${uid}-preferred`}>Preferred provider</label>
            <select
              id={`${uid}-preferred`}
              ref={preferredSelect}
              value={draft.preferred_provider}
              title={draft.preferred_provider ? n(draft.preferred_provider) : firstInListLabel}
              aria-invalid={plan.errors.preferred_provider ? true : undefined}
              aria-describedby={`${uid}-preferred-note`}
              onChange={(e) => form.set('preferred_provider', e.target.value)}
            >
              <option value="">{firstInListLabel}</option>
              {p.providerIds.map((id) => (
                <option key={id} value={id}>
                  {n(id)}
                </option>
              ))}
              {preferredGone ? <option value={draft.preferred_provider}>{draft.preferred_provider} (gone)</option> : null}
            </select>
          </div>
          <span id={`${uid}-preferred-note`} className="muted small routing-form__note" data-testid="preferred-note"
            title={plan.errors.preferred_provider ? undefined : preferredNote}>
            {plan.errors.preferred_provider ? (
              <span className="field-error" role="alert">
                {plan.errors.preferred_provider}
              </span>
            ) : (
              preferredNote
            )}
          </span>
        </div>
        <div className="routing-form__checks">
          <Check form={form} uid={uid} name="auto_return_to_preferred" label="Return to preferred automatically" />
          <Check form={form} uid={uid} name="hedge" label="Hedge slow streams" title="Also send a stream that has not answered after the hedge delay to the next provider; the first to answer wins" />
        </div>
        <div className="routing-form__fields">
          {NUMERIC_ROUTING_FIELDS.map((spec) => (
            <NumberField key={spec.key} form={form} uid={uid} spec={spec} disabled={spec.group === 'hedge' && !draft.hedge} />
          ))}
          {/* In the grid after the fields: the free cell of their last row when there is one, a row of its
              own otherwise — the card is a row shorter on a wide screen, and the tab order is unchanged. */}
          <div className="routing-form__actions">
          {/* Soft-disabled, not disabled: each leaves the form with nothing to reset or save, and a
              disabled button would drop the focus it has. Save stays clickable while a field blocks
              it: the click takes the person to that field's error. */}
          <Button type="button" className="btn btn--small" softDisabled={plan.dirty.length === 0} onClick={form.reset}>
            Reset
          </Button>
          <Button
            type="submit"
            className="btn btn--primary btn--small"
            aria-busy={form.saving || undefined}
            softDisabled={(validCount === 0 && !plan.blocking) || form.saving}
          >
            Save routing
          </Button>
          </div>
        </div>
      </form>
    </section>
  );
}

function Check({
  form,
  uid,
  name,
  label,
  title,
}: {
  form: RoutingForm;
  uid: string;
  name: 'auto_return_to_preferred' | 'hedge';
  label: string;
  title?: string;
}) {
  return (
    <div className="check" title={title}>
      <input
        id={`${uid}-${name}`}
        type="checkbox"
        checked={form.draft[name]}
        onChange={(e) => form.set(name, e.target.checked)}
      />
      <label htmlFor={`${uid}-${name}`}>{label}</label>
    </div>
  );
}

function NumberField({ form, uid, spec, disabled }: { form: RoutingForm; uid: string; spec: NumericFieldSpec; disabled: boolean }) {
  const id = `${uid}-${spec.key}`;
  const error = form.plan.errors[spec.key];
  return (
    <div className="num-field">
      <label htmlFor={id} title={spec.hint}>
        {spec.label}
        {spec.unit ? ` (${spec.unit})` : ''}
      </label>
      <input
        id={id}
        name={spec.key}
        inputMode={spec.rule === 'int>=1' ? 'numeric' : 'decimal'}
        className={`input--num${error ? ' input--invalid' : ''}`}
        value={form.draft[spec.key]}
        title={spec.hint}
        disabled={disabled}
        aria-invalid={error ? true : undefined}
        aria-describedby={error ? `${id}-error` : undefined}
        onChange={(e) => form.set(spec.key, e.target.value)}
      />
      {error ? (
        <span id={`${id}-error`} className="field-error" role="alert">
          {error}
        </span>
      ) : null}
    </div>
  );
}
