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
