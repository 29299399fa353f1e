// The all-down banner's live region: a screen reader reads an alert out whole at each change, so the
// countdown in the banner ("may serve again in 12 s", every status poll) must not be in it, while a
// change of the situation itself must still be announced.

import { render, screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { DownBanner } from '../src/features/dashboard/DownBanner';
import type { StatusSummary } from '../src/types';

const down = (seconds: number, cooling = 40): StatusSummary => ({
  state: 'down',
  line: 'all providers down',
  provider: null,
  reason: `Gamma: HTTP 404 Not Found; Beta: cooling down for ${cooling} s more after HTTP 500: upstream explosion`,
  advice: `Gamma may serve again in ${seconds} s (its cooldown ends). Routing is locked to Gamma: unlock it or fix that provider.`,
});

describe('the all-down banner', () => {
  it('announces the outage without its countdown, and not again as the seconds tick', () => {
    const { rerender } = render(<DownBanner summary={down(30)} />);
    const banner = screen.getByRole('region', { name: 'All providers down' });
    const alert = within(banner).getByRole('alert');
    const said = alert.textContent;
    expect(said).toBe(
      'All providers down. Gamma: HTTP 404 Not Found; Beta: cooling down after HTTP 500: upstream explosion. '
        + 'Gamma may serve again when its cooldown ends. Routing is locked to Gamma: unlock it or fix that provider.',
    );
    // The banner as a whole is no live region: only the alert inside it is.
    expect(banner.getAttribute('role')).toBeNull();
    expect(banner.closest('[aria-live], [role=alert], [role=status]')).toBeNull();

    rerender(<DownBanner summary={down(28, 38.5)} />);
    rerender(<DownBanner summary={down(27, 2)} />);
    // The seconds still show on screen …
    expect(banner.textContent).toContain('may serve again in 27 s');
    expect(banner.textContent).toContain('cooling down for 2 s more');
    // … but the live region's text did not change: nothing is read out again.
    expect(within(banner).getByRole('alert').textContent).toBe(said);
  });

  it('announces again when the situation changes: another failure, or a cooldown over', () => {
    const { rerender } = render(<DownBanner summary={down(30)} />);
    const alert = () => screen.getByRole('alert').textContent ?? '';
    rerender(<DownBanner summary={{ ...down(29), reason: 'Gamma: HTTP 502 Bad Gateway' }} />);
    expect(alert()).toContain('Gamma: HTTP 502 Bad Gateway.');
    rerender(<DownBanner summary={{ ...down(0), reason: 'Gamma: HTTP 502 Bad Gateway', advice: 'Routing is locked to Gamma: unlock it or fix that provider.' }} />);
    expect(alert()).not.toContain('may serve again');
  });

  it('keeps quiet through a countdown worded in a way it does not know', () => {
    const odd = (s: string): StatusSummary => ({ ...down(30), advice: `Back in ${s} perhaps.` });
    const { rerender } = render(<DownBanner summary={odd('5 min')} />);
    const said = screen.getByRole('alert').textContent;
    rerender(<DownBanner summary={odd('4 min')} />);
    rerender(<DownBanner summary={odd('99.5 s')} />);
    expect(screen.getByRole('alert').textContent).toBe(said);
  });
});

describe('the all-down banner while the gateway is not answering', () => {
  it('says it is the last known state and stops counting down', () => {
    const { rerender } = render(<DownBanner summary={down(118)} stale />);
    const banner = screen.getByRole('region', { name: 'All providers down' });
    expect(banner.textContent).toContain('Last known: all providers down (the gateway is not answering now)');
    expect(banner.textContent).toContain('Gamma may serve again when its cooldown ends.');
    expect(banner.textContent).toContain('Beta: cooling down after HTTP 500');
    expect(banner.textContent).not.toMatch(/\d+ s/);
    rerender(<DownBanner summary={down(118)} />);
    expect(banner.textContent).not.toContain('Last known');
    expect(banner.textContent).toContain('may serve again in 118 s');
  });
});
