import { memo } from 'react';
import { sessionProviders, shortSessionId, shortTime } from '../../logic/analytics';
import { countNoun, formatCount, formatDateTime } from '../../logic/format';
import type { ProviderId, SessionSummary } from '../../types';

interface Props {
  sessions: SessionSummary[];
  selected: string | null;
  nowMs: number;
  nameOf: (id: ProviderId) => string;
  onSelect: (sessionId: string) => void;
}

/** Recent Codex sessions, newest first; the selected one's timeline shows beside the list. */
export const SessionList = memo(function SessionList({ sessions, selected, nowMs, nameOf, onSelect }: Props) {
  if (sessions.length === 0) {
    return <p className="muted sessions__empty">No Codex sessions recorded yet.</p>;
  }
  return (
    <ul className="session-list" aria-label="Recent sessions">
      {sessions.map((s) => (
        <li key={s.session_id}>
          <button
            type="button"
            className="session"
            aria-pressed={s.session_id === selected}
            data-testid={`session-row-${s.session_id}`}
            title={`Session ${s.session_id}\n${formatDateTime(s.first_unix_ms)} – ${formatDateTime(s.last_unix_ms)}${
              s.provider ? `\n${s.bound ? 'Bound to' : 'Last served by'} ${nameOf(s.provider)}` : ''
            }`}
            onClick={() => onSelect(s.session_id)}
          >
            <span className="session__line">
              <code className="mono">{shortSessionId(s.session_id)}</code>
              {s.provider ? (
                <span className="session__bound small" data-testid="session-provider">
                  {s.bound ? 'on' : 'last on'} {nameOf(s.provider)}
                </span>
              ) : null}
              <span className="muted">{shortTime(s.last_unix_ms, nowMs)}</span>
            </span>
            <span className="session__line muted small">
              <span>
                {s.requests} req · {formatCount(s.total_tokens)} tok · {sessionProviders(s, nameOf)}
              </span>
              {s.failovers > 0 ? (
                <span className="badge badge--warn badge--xs">
                  {countNoun(s.failovers, 'failover')}
                </span>
              ) : null}
            </span>
          </button>
        </li>
      ))}
    </ul>
  );
});
