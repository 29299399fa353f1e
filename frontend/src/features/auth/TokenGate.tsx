import { useState, type FormEvent } from 'react';
import { Button } from '../../ui/Button';

interface Props {
  checking: boolean;
  busy: boolean;
  message: string | null;
  initialToken: string;
  onSubmit: (token: string) => void;
}

/** Browser mode: asks for the gateway token (secrets.json's, as a headless start prints it). */
export function TokenGate({ checking, busy, message, initialToken, onSubmit }: Props) {
  const [token, setToken] = useState(initialToken);
  function submit(e: FormEvent) {
    e.preventDefault();
    if (!busy) onSubmit(token); // Enter in the field submits even while Connect is soft-disabled
  }
  return (
    <main className="gate">
      <form className="gate__box card" onSubmit={submit} aria-labelledby="gate-title" noValidate>
        <h1 id="gate-title" className="gate__title">
          API Router
        </h1>
        {checking ? (
          <p className="muted" role="status">
            Checking the saved token…
          </p>
        ) : (
          <>
            <p className="muted small">
              Enter the gateway token: <code>gateway_token</code> in <code>secrets.json</code> in API Router&apos;s
              user-data folder (a headless start prints it in its terminal; the tray&apos;s <em>Copy gateway token</em>{' '}
              copies it). It is kept for this browser session only.
            </p>
            <div className="field">
              <label htmlFor="gate-token">Gateway token</label>
              <input
                id="gate-token"
                type="password"
                autoComplete="off"
                spellCheck={false}
                value={token}
                autoFocus
                aria-invalid={message ? true : undefined}
                aria-describedby={message ? 'gate-error' : undefined}
                onChange={(e) => setToken(e.target.value)}
              />
            </div>
            {message ? (
              <p id="gate-error" className="field-error" role="alert">
                {message}
              </p>
            ) : null}
            <Button type="submit" className="btn btn--primary" aria-busy={busy || undefined} softDisabled={busy}>
              {busy ? 'Checking…' : 'Connect'}
            </Button>
          </>
        )}
      </form>
    </main>
  );
}
