import { useEffect, useId, useMemo, useRef, useState, type FormEvent } from 'react';
import {
  NUMERIC_ROUTING_FIELDS,
  mergeDraft,
  planRoutingUpdate,
  routingToDraft,
  type RoutingDraft,
} from '../../logic/routing';
import type { ProviderStatus, RoutingConfig, RoutingUpdate } from '../../types';

interface Props {
  routing: RoutingConfig;
  providerIds: readonly string[];
  providers: Record<string, ProviderStatus>;
  preferredProvider: string;
  manualOverride: string | null;
  onLock: (provider: string | null) => Promise<unknown>;
  onPreferred: (provider: string) => Promise<unknown>;
  onSaveRouting: (values: RoutingUpdate) => Promise<{ ok: boolean }>;
}

export function RoutingCard(p: Props) {
  const uid = useId();
  const [draft, setDraft] = useState<RoutingDraft>(() => routingToDraft(p.routing));
  const [saving, setSaving] = useState(false);
  const serverRef = useRef(p.routing);

  // Take server changes for the fields nobody is editing.
  useEffect(() => {
    if (serverRef.current === p.routing) return;
    const previous = serverRef.current;
    serverRef.current = p.routing;
    setDraft((d) => mergeDraft(d, previous, p.routing));
  }, [p.routing]);

  const plan = useMemo(() => planRoutingUpdate(draft, p.routing), [draft, p.routing]);
  const validCount = Object.keys(plan.values).length;

  async function save(e: FormEvent) {
    e.preventDefault();
    if (validCount === 0) return;
    setSaving(true);
    try {
      await p.onSaveRouting(plan.values); // only valid, changed values are ever sent
    } finally {
      setSaving(false);
    }
  }

  return (
    <section className="card card--routing" aria-labelledby="routing-title">
      <h2 id="routing-title" className="card__title">
        Routing
      </h2>

      <div className="routing-row">
        <div className="inline-field">
          <label htmlFor={`${uid}-lock`}>Lock routing to</label>
          <select
            id={`${uid}-lock`}
            value={p.manualOverride ?? ''}
            onChange={(e) => void p.onLock(e.target.value || null)}
          >
            <option value="">Automatic (no lock)</option>
            {p.providerIds.map((id) => (
              <option key={id} value={id} disabled={p.providers[id]?.disabled && id !== p.manualOverride}>
                {id}
                {p.providers[id]?.disabled ? ' (disabled)' : ''}
              </option>
            ))}
          </select>
          {p.manualOverride ? (
            <button type="button" className="btn btn--small btn--warn" onClick={() => void p.onLock(null)}>
              Back to automatic
            </button>
          ) : null}
        </div>
        <div className="inline-field">
          <label htmlFor={`${uid}-preferred`}>Preferred provider</label>
          <select
            id={`${uid}-preferred`}
            value={p.preferredProvider}
            onChange={(e) => void p.onPreferred(e.target.value)}
          >
            {p.providerIds.includes(p.preferredProvider) ? null : <option value={p.preferredProvider}>—</option>}
            {p.providerIds.map((id) => (
              <option key={id} value={id}>
                {id}
              </option>
            ))}
          </select>
        </div>
      </div>

      <form className="routing-form" onSubmit={save} noValidate aria-label="Routing settings">
        <div className="check routing-form__check">
          <input
            id={`${uid}-auto`}
            type="checkbox"
            checked={draft.auto_return_to_preferred}
            onChange={(e) => setDraft((d) => ({ ...d, auto_return_to_preferred: e.target.checked }))}
          />
          <label htmlFor={`${uid}-auto`}>Return to preferred automatically</label>
        </div>
        <div className="routing-form__fields">
          {NUMERIC_ROUTING_FIELDS.map((spec) => {
            const id = `${uid}-${spec.key}`;
            const error = plan.errors[spec.key];
            return (
              <div key={spec.key} className="num-field">
                <label htmlFor={id} title={spec.hint}>
                  {spec.label}
                  {spec.unit ? ` (${spec.unit})` : ''}
                </label>
                <input
                  id={id}
                  name={spec.key}
                  inputMode={spec.rule === 'int>=1' ? 'numeric' : 'decimal'}
                  className={`input--num${error ? ' input--invalid' : ''}`}
                  value={draft[spec.key]}
                  title={spec.hint}
                  aria-invalid={error ? true : undefined}
                  aria-describedby={error ? `${id}-error` : undefined}
                  onChange={(e) => setDraft((d) => ({ ...d, [spec.key]: e.target.value }))}
                />
                {error ? (
                  <span id={`${id}-error`} className="field-error" role="alert">
                    {error}
                  </span>
                ) : null}
              </div>
            );
          })}
          <div className="routing-form__actions">
            <button
              type="button"
              className="btn btn--small"
              disabled={plan.dirty.length === 0}
              onClick={() => setDraft(routingToDraft(p.routing))}
            >
              Reset
            </button>
            <button type="submit" className="btn btn--primary btn--small" disabled={validCount === 0 || saving}>
              Save routing
            </button>
          </div>
        </div>
      </form>
    </section>
  );
}
