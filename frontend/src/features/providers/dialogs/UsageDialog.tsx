import { useId } from 'react';
import { formatDateTime } from '../../../logic/format';
import { USAGE_ADAPTERS, adapterDescription, isUsageAdapter, snapshotDetails } from '../../../logic/usage';
import type { QuotaEntry } from '../../../types';
import { Field } from '../../../ui/Field';
import { Modal } from '../../../ui/Modal';
import { useUsageSettingsForm, type UsageSettingsDeps } from './useUsageSettingsForm';
import { Button } from '../../../ui/Button';

interface Props extends UsageSettingsDeps {
  name: string;
  entry: QuotaEntry | undefined;
}

/**
 * How a provider's usage is read: adapter, usage base URL and usage token (write-only), with the
 * last reading: which adapter answered, whether detection found it, and the base that worked.
 */
export function UsageDialog({ name, entry, ...deps }: Props) {
  const uid = useId();
  const { id, onClose } = deps;
  const { adapter, setAdapter, baseUrl, setBaseUrl, token, setToken, hasToken, errors, formError, busy, submit, clearToken } =
    useUsageSettingsForm(deps);

  const snapshot = entry?.snapshot ?? null;
  const details = snapshot ? snapshotDetails(snapshot) : [];

  return (
    <Modal
      title={`Usage settings for ${name}`}
      onClose={onClose}
      error={formError}
      footer={
        <>
          {hasToken ? (
            <Button type="button" className="btn btn--danger footer-left" softDisabled={busy} onClick={() => void clearToken()}>
              Clear usage token
            </Button>
          ) : null}
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <Button type="submit" form={`${uid}-form`} className="btn btn--primary" aria-busy={busy || undefined} softDisabled={busy}>
            Save usage settings
          </Button>
        </>
      }
    >
      <section className="usage-reading" aria-label={`Last usage reading of ${name}`} data-testid={`usage-reading-${id}`}>
        {snapshot ? (
          <dl className="kv kv--wide">
            <dt>Adapter</dt>
            <dd data-testid={`usage-adapter-${id}`}>{adapterDescription(snapshot)}</dd>
            <dt>Base used</dt>
            <dd className="mono ellipsis" title={snapshot.base_url} data-testid={`usage-base-${id}`}>
              {snapshot.base_url}
            </dd>
            <dt>Checked</dt>
            <dd>{formatDateTime(snapshot.fetched_at_unix_ms)}</dd>
            {details.map((row) => (
              <FragmentRow key={row.label} label={row.label} value={row.value} />
            ))}
            {snapshot.exhausted ? (
              <>
                <dt>Exhausted</dt>
                <dd className="text-bad">
                  {snapshot.exhausted_reason}
                  {entry?.skipped ? ' — automatic routing skips it' : ''}
                </dd>
              </>
            ) : null}
          </dl>
        ) : (
          <p className="muted">
            No usage reading yet.
            {entry?.adapter_hint ? ` The next check tries ${entry.adapter_hint} first.` : ''}
          </p>
        )}
        {snapshot && snapshot.notes.length > 0 ? (
          <ul className="usage-notes">
            {snapshot.notes.map((n) => (
              <li key={n}>{n}</li>
            ))}
          </ul>
        ) : null}
        {entry?.error ? (
          <p className="usage-error" role="note" data-testid={`usage-error-${id}`}>
            Last check failed{entry.error_at_unix_ms ? ` at ${formatDateTime(entry.error_at_unix_ms)}` : ''}:{' '}
            {entry.error}
            {snapshot ? ' (the reading above is the last good one)' : ''}
          </p>
        ) : null}
      </section>

      <form id={`${uid}-form`} className="form" onSubmit={submit} noValidate>
        <div className="field">
          <label htmlFor={`${uid}-adapter`}>Usage adapter</label>
          <select
            id={`${uid}-adapter`}
            value={adapter}
            onChange={(e) => setAdapter(isUsageAdapter(e.target.value) ? e.target.value : '')}
          >
            {USAGE_ADAPTERS.map((a) => (
              <option key={a.value} value={a.value}>
                {a.label}
              </option>
            ))}
          </select>
        </div>
        <Field
          label="Usage base URL"
          value={baseUrl}
          onChange={(e) => setBaseUrl(e.target.value)}
          error={errors.baseUrl}
          autoComplete="off"
          spellCheck={false}
          inputMode="url"
          placeholder="The base URL's own address"
          hint="Leave empty to ask the base URL's scheme, host and port; set it when the panel is elsewhere"
        />
        <Field
          label="Usage token"
          type="password"
          value={token}
          onChange={(e) => setToken(e.target.value)}
          error={errors.token}
          autoComplete="off"
          spellCheck={false}
          hint={
            <span data-testid={`usage-token-state-${id}`}>
              {hasToken === null
                ? 'Checking for a usage token…'
                : hasToken
                  ? 'A usage token is set; type a new one to replace it. It is never shown again.'
                  : 'None set: usage is read with the API key. Only for panels that need their own token.'}
            </span>
          }
        />
        <p className="muted small">Saving a change drops the last reading and checks usage again.</p>
      </form>
    </Modal>
  );
}

function FragmentRow({ label, value }: { label: string; value: string }) {
  return (
    <>
      <dt>{label}</dt>
      <dd>{value}</dd>
    </>
  );
}
