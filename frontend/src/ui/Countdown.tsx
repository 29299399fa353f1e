import { cooldownRemainingMs } from '../logic/health';
import { formatCountdown } from '../logic/format';
import { useServerNow } from '../hooks/serverClock';

/** Live "time left" until `untilMs` on the server clock. Only this element ticks. */
export function Countdown({ untilMs, label }: { untilMs: number | null; label: string }) {
  const now = useServerNow(untilMs !== null);
  const left = cooldownRemainingMs(untilMs, now);
  if (left === null) return null;
  return (
    <span className="countdown mono" aria-label={`${label}: ${formatCountdown(left)} left`} title="Time left">
      {formatCountdown(left)}
    </span>
  );
}
