import { useId, useRef, type ReactNode } from 'react';
import { useBusy } from '../hooks/useBusy';
import { Modal } from './Modal';

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
          <button
            type="button"
            className={`btn ${danger ? 'btn--danger' : 'btn--primary'}`}
            onClick={confirm}
            disabled={busy}
          >
            {confirmLabel}
          </button>
        </>
      }
    >
      <div id={descId} className="confirm-text">
        {children}
      </div>
    </Modal>
  );
}
