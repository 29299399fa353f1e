import { useEffect, useState } from 'react';
import { copyText } from '../lib/clipboard';
import { errorMessage } from '../bridge';
import { useToasts } from '../hooks/toasts';
import { IconButton } from './IconButton';

/** "Copy gateway address" → "Copied gateway address". */
export function copiedText(label: string): string {
  return /^Copy /.test(label) ? `Copied ${label.slice(5)}` : 'Copied';
}

/** Copies `text`; the icon turns into a tick for a moment. Failures are shown, never swallowed. */
export function CopyButton({ text, label, disabled }: { text: string; label: string; disabled?: boolean }) {
  const [copied, setCopied] = useState(false);
  const toasts = useToasts();
  useEffect(() => {
    if (!copied) return;
    const t = setTimeout(() => setCopied(false), 1500);
    return () => clearTimeout(t);
  }, [copied]);
  return (
    <IconButton
      icon={copied ? 'check' : 'copy'}
      label={label}
      disabled={disabled}
      onClick={async () => {
        try {
          await copyText(text);
          setCopied(true);
          // The tick is only seen: a screen reader hears what was copied.
          toasts.push({ tone: 'success', title: copiedText(label), spokenOnly: true });
        } catch (e) {
          toasts.push({ tone: 'error', title: 'Copy failed', message: errorMessage(e) });
        }
      }}
    />
  );
}
