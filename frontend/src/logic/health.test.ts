import { describe, expect, it } from 'vitest';
import { cooldownRemainingMs, healthBadge, lockLabel, showsDownBanner } from './health';

describe('healthBadge', () => {
  it.each([
    ['healthy', 'Healthy', 'ok'],
    ['unhealthy', 'Unhealthy', 'bad'],
    ['cooldown', 'Cooldown', 'warn'],
    ['unresponsive', 'Unresponsive', 'bad'],
    ['disabled', 'Disabled', 'muted'],
    ['unknown', 'Unknown', 'neutral'],
  ] as const)('%s → %s (%s)', (status, label, tone) => {
    expect(healthBadge({ status, disabled: false })).toMatchObject({ kind: status, label, tone });
  });
  it('a disabled provider is "Disabled" whatever its health', () => {
    expect(healthBadge({ status: 'healthy', disabled: true }).kind).toBe('disabled');
  });
  it('an unexpected status is "Unknown"', () => {
    expect(healthBadge({ status: 'weird' as never, disabled: false }).kind).toBe('unknown');
  });
});

describe('cooldownRemainingMs', () => {
  it('is measured on the server clock and never negative', () => {
    expect(cooldownRemainingMs(10_000, 4_000)).toBe(6_000);
    expect(cooldownRemainingMs(10_000, 12_000)).toBe(0);
    expect(cooldownRemainingMs(null, 1)).toBeNull();
  });
});

describe('lockLabel', () => {
  it('describes the lock', () => {
    expect(lockLabel(null)).toBe('Automatic');
    expect(lockLabel('p2')).toBe('Locked to p2');
    expect(lockLabel('p2', (id) => (id === 'p2' ? 'Relay Two' : id))).toBe('Locked to Relay Two');
  });
});

describe('showsDownBanner', () => {
  it('when every provider is down, or every configured one is switched off', () => {
    expect(showsDownBanner({ state: 'down' }, 2)).toBe(true);
    expect(showsDownBanner({ state: 'no_providers' }, 2)).toBe(true);
    expect(showsDownBanner({ state: 'no_providers' }, 0)).toBe(false); // a fresh install: nothing went wrong
    expect(showsDownBanner({ state: 'fallback' }, 2)).toBe(false);
    expect(showsDownBanner(null, 2)).toBe(false);
  });
});
