import { useSyncExternalStore } from 'react';

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

/**
 * An external store whose value is the clock's "now", re-read every `intervalMs` while anything
 * subscribes (and once more on each new subscription). Every component ticking at the same rate on
 * the same clock shares one timer, so countdowns change in step.
 */
class Ticker {
  private value: number;
  private readonly listeners = new Set<() => void>();
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(
    private readonly clock: ServerClock,
    private readonly intervalMs: number,
  ) {
    this.value = clock.now();
  }

  get = (): number => this.value;

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    this.tick();
    if (this.timer === null) this.timer = setInterval(this.tick, this.intervalMs);
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0 && this.timer !== null) {
        clearInterval(this.timer);
        this.timer = null;
      }
    };
  };

  private tick = (): void => {
    this.value = this.clock.now();
    for (const fn of [...this.listeners]) fn();
  };
}

const tickers = new WeakMap<ServerClock, Map<number, Ticker>>();

function tickerFor(clock: ServerClock, intervalMs: number): Ticker {
  let byInterval = tickers.get(clock);
  if (!byInterval) tickers.set(clock, (byInterval = new Map()));
  let ticker = byInterval.get(intervalMs);
  if (!ticker) byInterval.set(intervalMs, (ticker = new Ticker(clock, intervalMs)));
  return ticker;
}

const still = () => () => {};

/** Server "now", re-read every `intervalMs` while `active` (otherwise the last value read). */
export function useServerNow(active: boolean, intervalMs = 500, clock: ServerClock = serverClock): number {
  const ticker = tickerFor(clock, intervalMs);
  return useSyncExternalStore(active ? ticker.subscribe : still, ticker.get);
}
