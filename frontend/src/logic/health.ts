// Provider status → badge, and cooldown arithmetic. Pure.

import type { HealthStatus, ProviderStatus, StatusSummary } from '../types';
import { own } from './own';

export type Tone = 'ok' | 'bad' | 'warn' | 'muted' | 'neutral';

export interface HealthBadge {
  kind: HealthStatus;
  label: string;
  tone: Tone;
  /** Longer text for a tooltip. */
  description: string;
}

const BADGES: Record<HealthStatus, HealthBadge> = {
  healthy: { kind: 'healthy', label: 'Healthy', tone: 'ok', description: 'Last request succeeded' },
  unhealthy: { kind: 'unhealthy', label: 'Unhealthy', tone: 'bad', description: 'Recent requests failed' },
  cooldown: {
    kind: 'cooldown',
    label: 'Cooldown',
    tone: 'warn',
    description: 'Skipped by routing until the cooldown ends',
  },
  unresponsive: {
    kind: 'unresponsive',
    label: 'Unresponsive',
    tone: 'bad',
    description: 'Did not answer in time; out of rotation until a background check or a test gets an answer',
  },
  disabled: { kind: 'disabled', label: 'Disabled', tone: 'muted', description: 'Turned off; never routed to' },
  unknown: { kind: 'unknown', label: 'Unknown', tone: 'neutral', description: 'No request has gone here yet' },
};

/** The badge for a provider. A disabled provider shows "Disabled" whatever its last health was. */
export function healthBadge(p: Pick<ProviderStatus, 'status' | 'disabled'>): HealthBadge {
  if (p.disabled) return BADGES.disabled;
  return own(BADGES, p.status) ?? BADGES.unknown;
}

/** Milliseconds of cooldown left at server time `serverNowMs`; null when there is no cooldown. */
export function cooldownRemainingMs(untilMs: number | null | undefined, serverNowMs: number): number | null {
  if (untilMs === null || untilMs === undefined || !Number.isFinite(untilMs)) return null;
  return Math.max(0, untilMs - serverNowMs);
}

/** "Automatic" or "Locked to <name>". */
export function lockLabel(manualOverride: string | null | undefined, nameOf: (id: string) => string = (id) => id): string {
  return manualOverride ? `Locked to ${nameOf(manualOverride)}` : 'Automatic';
}

/** The red banner: every provider down, or none that can be asked although some are configured (all
 *  switched off); not a fresh install with no provider yet. */
export function showsDownBanner(summary: Pick<StatusSummary, 'state'> | null | undefined, providerCount: number): boolean {
  return summary?.state === 'down' || (summary?.state === 'no_providers' && providerCount > 0);
}

/** A duration as the backend writes one for a person ("12 s", "2.5 s", "5 min", "3 h", "1,200 days"). */
const DURATION = String.raw`\d[\d,]*(?:\.\d+)? ?(?:s|min|h|days?)\b`;
const BACK_IN = new RegExp(String.raw` may serve again in ${DURATION} \(its cooldown ends\)`, 'g');
const COOLING_FOR = new RegExp(String.raw`\bcooling down for ${DURATION} more\b`, 'g');
const ANY_DURATION = new RegExp(DURATION, 'g');

/**
 * What the all-down banner says, without the countdowns in it ("may serve again in 12 s", "cooling
 * down for 40 s more"): the text for its live region, which a screen reader reads out whole at each
 * change — a countdown would have it re-read every status poll. The seconds stay on screen.
 */
export function downAnnouncement(summary: Pick<StatusSummary, 'line' | 'reason' | 'advice'>): string {
  const line = summary.line || 'all providers down';
  const parts = [line.charAt(0).toUpperCase() + line.slice(1), summary.reason, summary.advice]
    .map((part) => untimed((part ?? '').trim()))
    .filter(Boolean);
  return parts.map((part) => (/[.!?]$/.test(part) ? part : `${part}.`)).join(' ');
}

/** `text` without the gateway's countdowns ("may serve again in 12 s", "cooling down for 40 s more"): what
 * stays true while the seconds pass, or once they can no longer be counted (the gateway not answering). */
export function untimed(text: string): string {
  return text.replace(BACK_IN, ' may serve again when its cooldown ends').replace(COOLING_FOR, 'cooling down');
}

/** Two announcements that differ only in a duration (a countdown this module does not know the wording of) say the same. */
export function sameSituation(a: string, b: string): boolean {
  return a.replace(ANY_DURATION, '#') === b.replace(ANY_DURATION, '#');
}
