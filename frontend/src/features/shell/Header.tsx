import type { Ref } from 'react';
import { routeHash, type Page } from '../../logic/route';
import type { CodexState } from '../../types';
import { Icon } from '../../ui/Icon';
import { own } from '../../logic/own';

interface Props {
  page: Page;
  version: string | null;
  connectionError: string | null;
  /** The gateway does not answer at all (else it answered with an error). */
  unreachable?: boolean;
  codexState: CodexState | null;
  onConnectCodex: () => void;
  onSettings: () => void;
  /** Browser mode only. */
  onForgetToken?: () => void;
  ref?: Ref<HTMLElement>;
}

const CODEX_TITLES: Record<CodexState, string> = {
  connected: 'Codex is connected to this gateway',
  token_out_of_date: 'Codex has an old gateway token: open to rewrite its auth.json',
  not_connected: 'Codex is not connected to this gateway yet',
};

/** What the header button says about Codex, in the and the README's words. */
export const CODEX_LABELS: Record<CodexState, string> = {
  connected: 'connected',
  token_out_of_date: 'token out of date',
  not_connected: 'not connected',
};

/**
 * The header button opens Connect Codex and says where Codex stands: "Connect Codex · connected",
 * "Connect Codex · token out of date" or "Connect Codex · not connected" (plain "Connect Codex" until
 * Codex's files have been read).
 */
export function codexButtonText(state: CodexState | null): string {
  return state ? `Connect Codex · ${own(CODEX_LABELS, state) ?? state}` : 'Connect Codex';
}

const PAGES: readonly { page: Page; label: string }[] = [
  { page: 'dashboard', label: 'Dashboard' },
  { page: 'requests', label: 'Requests' },
  { page: 'usage', label: 'Usage' },
];

export function Header({ page, version, connectionError, unreachable = false, codexState, onConnectCodex, onSettings, onForgetToken, ref }: Props) {
  return (
    <header ref={ref} className="topbar">
      <div className="brand">
        <span className="brand__name">API Router</span>
        {version ? <span className="muted small">v{version}</span> : null}
      </div>
      <nav className="nav" aria-label="Main">
        {PAGES.map((p) => (
          <a key={p.page} href={routeHash(p.page)} aria-current={page === p.page ? 'page' : undefined}>
            {p.label}
          </a>
        ))}
      </nav>
      <div className="topbar__right">
        <span
          className={`conn${connectionError ? ' conn--down' : ''}`}
          role="status"
          data-testid="connection"
          title={connectionError ?? 'Status refreshes every 1.5 s'}
        >
          <span className="conn__dot" aria-hidden="true" />
          <span className="conn__text">
            {!connectionError ? 'Live' : unreachable ? 'Gateway not answering · retrying' : `Gateway error: ${connectionError}`}
          </span>
        </span>
        <button
          type="button"
          className={`btn btn--small codex-btn${codexState === 'token_out_of_date' ? ' codex-btn--warn' : ''}`}
          data-codex-state={codexState ?? undefined}
          title={codexState ? own(CODEX_TITLES, codexState) : undefined}
          onClick={onConnectCodex}
        >
          <Icon name={codexState === 'token_out_of_date' ? 'warning' : 'terminal'} size={14} />
          <span data-testid="codex-button-text">{codexButtonText(codexState)}</span>
          {codexState === 'connected' ? <span className="codex-btn__dot" aria-hidden="true" /> : null}
        </button>
        <button type="button" className="btn btn--small" onClick={onSettings}>
          <Icon name="gear" size={14} /> Settings
        </button>
        {onForgetToken ? (
          <button type="button" className="btn btn--small" onClick={onForgetToken}>
            Forget token
          </button>
        ) : null}
      </div>
    </header>
  );
}
