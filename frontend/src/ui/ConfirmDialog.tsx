import { useId, useRef, type ReactNode } from 'react';
import { useBusy } from '../hooks/useBusy';
import { Modal } from './Modal';
import { Button } from './Button';

interface Props {
  title: string;
  children: ReactNode;
  confirmLabel: string;
  danger?: boolean;
  onConfirm: () => Promise<unknown> | void;
  onClose: () => void;
  /** Why the last confirm failed (shown in the dialog). */
  error?: string | null;
}

/** "Are you sure?" — focus starts on Cancel so Enter never destroys anything by accident. */
export function ConfirmDialog({ title, children, confirmLabel, danger, onConfirm, onClose, error }: Props) {
  const [busy, whileBusy] = useBusy();
  const cancelRef = useRef<HTMLButtonElement>(null);
  const descId = useId();
  async function confirm() {
    if (busy) return;
    await whileBusy(async () => {
      await onConfirm();
    });
  }
  return (
    <Modal
      title={title}
      onClose={onClose}
      size="sm"
      alert
      describedBy={descId}
      initialFocus={cancelRef}
      error={error}
      footer={
        <>
          <button ref={cancelRef} type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <Button
            type="button"
            className={`btn ${danger ? 'btn--danger' : 'btn--primary'}`}
            aria-busy={busy || undefined}
            softDisabled={busy}
            onClick={() => void confirm()}
          >
            {confirmLabel}
          </Button>
        </>
      }
    >
      <div id={descId} className="confirm-text">
        {children}
      </div>
    </Modal>
  );
}
