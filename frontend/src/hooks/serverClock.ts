import { useEffect, useState } from 'react';

/**
 * The gateway's clock, estimated from `now_unix_ms` in the last status. Cooldown countdowns use it
 * so a skewed local clock does not distort them. One mutable instance: syncing it never re-renders
 * anything; only the components that tick (countdowns) read it.
 */
export class ServerClock {
  private offsetMs = 0;
  constructor(private readonly localNow: () => number = () => Date.now()) {}
  sync(serverNowMs: number): void {
    if (Number.isFinite(serverNowMs)) this.offsetMs = serverNowMs - this.localNow();
  }
  now(): number {
    return this.localNow() + this.offsetMs;
  }
}

export const serverClock = new ServerClock();

/** Server "now", re-read every `intervalMs` while `active`. */
export function useServerNow(active: boolean, intervalMs = 500, clock: ServerClock = serverClock): number {
  const [now, setNow] = useState(() => clock.now());
  useEffect(() => {
    if (!active) return;
    setNow(clock.now());
    const t = setInterval(() => setNow(clock.now()), intervalMs);
    return () => clearInterval(t);
  }, [active, intervalMs, clock]);
  return now;
}
