import { memo } from 'react';
import { WINDOWS } from '../../logic/analytics';
import type { AnalyticsWindow } from '../../types';

interface Props {
  value: AnalyticsWindow;
  onChange: (w: AnalyticsWindow) => void;
}

/** "Last hour / Last day / Last 30 days" as a group of toggle buttons. */
export const WindowPicker = memo(function WindowPicker({ value, onChange }: Props) {
  return (
    <div className="segmented" role="group" aria-label="Time window">
      {WINDOWS.map((w) => (
        <button
          key={w.value}
          type="button"
          className="segmented__btn"
          aria-pressed={w.value === value}
          onClick={() => onChange(w.value)}
        >
          {w.label}
        </button>
      ))}
    </div>
  );
});
