import { useCallback } from 'react';
import type { Bridge } from '../../bridge';
import type { Analytics, AnalyticsWindow, SessionSummary, SessionTimeline } from '../../types';
import { useQuery, type Query } from '../../hooks/useQuery';

/** The Usage page re-reads analytics and sessions this often while it is open. */
export const ANALYTICS_POLL_MS = 30_000;
const SESSION_LIMIT = 50;

/**
 * `get_analytics(window)`: totals, per-provider stats and the chart series. Each hook here reads again at
 * once when `generation` changes (`useProvidersGone`: past rows re-labelled by a rename or delete).
 */
export function useAnalytics(
  bridge: Bridge,
  window: AnalyticsWindow,
  intervalMs = ANALYTICS_POLL_MS,
  generation = 0,
): Query<Analytics> {
  const load = useCallback(() => bridge.call('get_analytics', { window }), [bridge, window]);
  return useQuery(`analytics:${window}`, load, intervalMs, generation);
}

/** `list_sessions()`: the most recent Codex sessions, newest first. */
export function useSessions(
  bridge: Bridge,
  intervalMs = ANALYTICS_POLL_MS,
  generation = 0,
): Query<SessionSummary[]> {
  const load = useCallback(
    () => bridge.call('list_sessions', { limit: SESSION_LIMIT }).then((r) => r.sessions),
    [bridge],
  );
  return useQuery('sessions', load, intervalMs, generation);
}

/** `get_session_timeline(session_id)`; nothing while no session is selected. */
export function useSessionTimeline(
  bridge: Bridge,
  sessionId: string | null,
  intervalMs = ANALYTICS_POLL_MS,
  generation = 0,
): Query<SessionTimeline> {
  const load = useCallback(
    () => bridge.call('get_session_timeline', { session_id: sessionId ?? '' }),
    [bridge, sessionId],
  );
  return useQuery(sessionId === null ? null : `timeline:${sessionId}`, load, intervalMs, generation);
}
