import { useEffect, useId, useRef, useState } from 'react';
import { OUTCOME_FILTERS, hasFilters, type RequestFilterParams } from '../../logic/requests';
import { providerOptionLabel, withChosenProvider } from '../../logic/providerChoice';
import type { ProviderId } from '../../types';
import { Button } from '../../ui/Button';

interface Props {
  value: RequestFilterParams;
  /** The configured providers; null while the status is still loading. */
  providerIds: readonly ProviderId[] | null;
  nameOf: (id: ProviderId) => string;
  /** Called with the new filters (typing is applied once it pauses). */
  onChange: (next: RequestFilterParams) => void;
}

const TYPING_MS = 300;

/** Provider, outcome, session and free-text filters; they live in the address (`#/requests?…`). */
export function RequestFiltersBar({ value, providerIds, nameOf, onChange }: Props) {
  const uid = useId();
  // The two text fields keep what is typed and apply it when typing pauses.
  const [text, setText] = useState({ session: value.session, q: value.q });
  const [seen, setSeen] = useState(value);
  if (seen !== value) {
    // The address changed (a link, the back button, Clear): show what it says.
    setSeen(value);
    if (value.session !== seen.session || value.q !== seen.q) setText({ session: value.session, q: value.q });
  }

  const typing = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  // Typing still waiting for its pause was typed over the filters it saw: when they change (a link,
  // the back button, the pause's own change), it is dropped, as is any left at unmount.
  useEffect(() => () => clearTimeout(typing.current), [value]);

  /** Apply filters now; text still waiting for a pause in typing is applied with them, or dropped. */
  function apply(next: RequestFilterParams) {
    clearTimeout(typing.current);
    onChange(next);
  }

  function type(field: 'session' | 'q', typed: string) {
    const next = { ...text, [field]: typed };
    setText(next);
    clearTimeout(typing.current);
    if (next.session === value.session && next.q === value.q) return; // typed back to what applies
    typing.current = setTimeout(() => onChange({ ...value, ...next }), TYPING_MS);
  }

  function clear() {
    setText({ session: '', q: '' });
    apply({ provider: '', outcome: '', session: '', q: '' });
  }

  // "All providers" is the empty value, which no provider id can be.
  const ids = withChosenProvider(providerIds ?? [], value.provider || null);

  return (
    <div className="filters" role="search" aria-label="Filter requests">
      <div className="filters__field">
        <label htmlFor={`${uid}-provider`}>Provider</label>
        <select
          id={`${uid}-provider`}
          value={value.provider}
          title={value.provider ? nameOf(value.provider) : 'All providers'}
          onChange={(e) => apply({ ...value, ...text, provider: e.target.value })}
        >
          <option value="">All providers</option>
          {ids.map((id) => (
            <option key={id} value={id}>
              {providerOptionLabel(id, providerIds, nameOf)}
            </option>
          ))}
        </select>
      </div>
      <div className="filters__field">
        <label htmlFor={`${uid}-outcome`}>Outcome</label>
        <select id={`${uid}-outcome`} value={value.outcome} onChange={(e) => apply({ ...value, ...text, outcome: e.target.value })}>
          <option value="">Any outcome</option>
          {OUTCOME_FILTERS.map((o) => (
            <option key={o.value} value={o.value}>
              {o.label}
            </option>
          ))}
        </select>
      </div>
      <div className="filters__field">
        <label htmlFor={`${uid}-session`}>Session</label>
        <input
          id={`${uid}-session`}
          type="text"
          className="mono"
          placeholder="session id"
          spellCheck={false}
          value={text.session}
          onChange={(e) => type('session', e.target.value)}
        />
      </div>
      <div className="filters__field filters__field--grow">
        <label htmlFor={`${uid}-q`}>Search</label>
        <input
          id={`${uid}-q`}
          type="text"
          placeholder="error, model, session or request id"
          spellCheck={false}
          value={text.q}
          onChange={(e) => type('q', e.target.value)}
        />
      </div>
      <Button
        type="button"
        className="btn btn--small filters__clear"
        softDisabled={!hasFilters(value) && !text.session && !text.q}
        onClick={clear}
      >
        Clear filters
      </Button>
    </div>
  );
}
