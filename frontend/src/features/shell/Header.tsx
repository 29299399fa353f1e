import type { Route } from '../../logic/route';
import { routeHash } from '../../logic/route';
import { Icon } from '../../ui/Icon';

interface Props {
  route: Route;
  version: string | null;
  connectionError: string | null;
  onConnectCodex: () => void;
  /** Browser mode only. */
  onForgetToken?: () => void;
}

export function Header({ route, version, connectionError, onConnectCodex, onForgetToken }: Props) {
  return (
    <header className="topbar">
      <div className="brand">
        <span className="brand__name">API Router</span>
        {version ? <span className="muted small">v{version}</span> : null}
      </div>
      <nav className="nav" aria-label="Main">
        <a href={routeHash('dashboard')} aria-current={route === 'dashboard' ? 'page' : undefined}>
          Dashboard
        </a>
        <a href={routeHash('usage')} aria-current={route === 'usage' ? 'page' : undefined}>
          Usage
        </a>
      </nav>
      <div className="topbar__right">
        <span
          className={`conn${connectionError ? ' conn--down' : ''}`}
          role="status"
          data-testid="connection"
          title={connectionError ?? 'Status refreshes every 1.5 s'}
        >
          <span className="conn__dot" aria-hidden="true" />
          {connectionError ? `Gateway unreachable: ${connectionError}` : 'Live'}
        </span>
        <button type="button" className="btn btn--small" onClick={onConnectCodex}>
          <Icon name="terminal" size={14} /> Connect Codex
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
