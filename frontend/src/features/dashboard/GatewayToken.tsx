import { useState } from 'react';
import { maskSecret } from '../../logic/format';
import { ConfirmDialog } from '../../ui/ConfirmDialog';
import { CopyButton } from '../../ui/CopyButton';
import { IconButton } from '../../ui/IconButton';

interface Props {
  token: string | null;
  onRotate: () => Promise<unknown>;
}

/** The gateway token: masked by default, with show, copy and rotate (after a confirmation). */
export function GatewayToken({ token, onRotate }: Props) {
  const [shown, setShown] = useState(false);
  const [confirming, setConfirming] = useState(false);
  return (
    <div className="token">
      <code className="token__value mono" data-testid="gateway-token" aria-label="Gateway token value">
        {token === null ? '…' : shown ? token : maskSecret(token)}
      </code>
      <IconButton
        icon={shown ? 'eye-off' : 'eye'}
        label={shown ? 'Hide gateway token' : 'Show gateway token'}
        aria-pressed={shown}
        disabled={token === null}
        onClick={() => setShown((s) => !s)}
      />
      <CopyButton text={token ?? ''} label="Copy gateway token" disabled={token === null} />
      <IconButton icon="rotate" label="Rotate gateway token" onClick={() => setConfirming(true)} />
      {confirming ? (
        <ConfirmDialog
          title="Rotate the gateway token?"
          confirmLabel="Rotate token"
          danger
          onClose={() => setConfirming(false)}
          onConfirm={async () => {
            await onRotate();
            setConfirming(false);
          }}
        >
          <p>The current token stops working at once. Any client using it must be given the new one.</p>
          <p>If “Connect Codex” wrote Codex’s auth.json, it is rewritten with the new token (your own files stay in the backup made when it connected Codex).</p>
        </ConfirmDialog>
      ) : null}
    </div>
  );
}
