import { useEffect, useEffectEvent, useId, useRef, type KeyboardEvent, type ReactNode, type RefObject } from 'react';
import { createPortal } from 'react-dom';
import { IconButton } from './IconButton';

const FOCUSABLE =
  'a[href], button:not([disabled]), input:not([disabled]):not([type="hidden"]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

/**
 * Open modals, innermost last. A key pressed while focus is outside every modal (it falls back to
 * <body> when the focused control becomes disabled or leaves the page) reaches
 * only the document; the innermost modal still answers Escape and pulls Tab back inside.
 */
const openModals: HTMLElement[] = [];

function focusables(box: HTMLElement): HTMLElement[] {
  return Array.from(box.querySelectorAll<HTMLElement>(FOCUSABLE));
}

/** The section's heading when it can take focus, else its first control. */
function focusFallback(section: HTMLElement) {
  const heading = section.querySelector<HTMLElement>('h1[tabindex], h2[tabindex], h3[tabindex]');
  (heading ?? focusables(section)[0])?.focus();
}

function usable(el: HTMLElement | null | undefined): HTMLElement | null {
  return el && !el.matches(':disabled, [aria-disabled="true"]') ? el : null;
}

interface ModalProps {
  title: string;
  onClose: () => void;
  children: ReactNode;
  footer?: ReactNode;
  size?: 'sm' | 'md' | 'lg';
  /** Element to focus on open (unless it is disabled); default: the first field, else the first button that can act. */
  initialFocus?: RefObject<HTMLElement | null>;
  /** role="alertdialog" for confirmations. */
  alert?: boolean;
  /** Optional id of an element describing the dialog. */
  describedBy?: string;
  /** Why the last submit failed (e.g. the server refused it), shown above the buttons. */
  error?: string | null;
}

/**
 * A plain custom modal (no <dialog> element: its behaviour differs across WebView2, WebKitGTK and
 * Chromium). Labelled by its title, traps Tab, closes on Escape, gives focus back on close.
 */
export function Modal({ title, onClose, children, footer, size = 'md', initialFocus, alert, describedBy, error }: ModalProps) {
  const titleId = useId();
  const boxRef = useRef<HTMLDivElement>(null);

  // Effect Events: they read the latest props without making the effects below re-run (the
  // effects belong to the dialog being open, not to the props of one render).
  const focusOnOpen = useEffectEvent((box: HTMLElement) => {
    // Never a control that cannot act: a soft-disabled button (aria-disabled) takes the focus, but
    // starting there tells a screen reader the dialog opens on something unavailable.
    const target =
      usable(initialFocus?.current) ??
      box.querySelector<HTMLElement>('.modal__body input:not([disabled]), .modal__body select, .modal__body textarea') ??
      box.querySelector<HTMLElement>('.modal__footer button:not([disabled]):not([aria-disabled="true"])') ??
      box;
    target.focus();
  });
  const closeFromDocument = useEffectEvent(() => onClose());

  // Focus moves in when the dialog opens and goes back to where it was when it closes; when that
  // element is gone (its row was deleted), to the heading of the section it was in (or that section's
  // first control), never to <body>.
  useEffect(() => {
    const previous = document.activeElement as HTMLElement | null;
    const section = previous?.closest<HTMLElement>('section, main') ?? null;
    if (boxRef.current) focusOnOpen(boxRef.current);
    return () => {
      if (previous && document.contains(previous)) previous.focus();
      else if (section && document.contains(section)) focusFallback(section);
    };
  }, []);

  useEffect(() => {
    const box = boxRef.current;
    if (!box) return;
    openModals.push(box);
    function onDocumentKeyDown(e: globalThis.KeyboardEvent) {
      if (openModals[openModals.length - 1] !== box || !box || box.contains(e.target as Node | null)) return;
      if (e.key === 'Escape') {
        e.preventDefault();
        closeFromDocument();
      } else if (e.key === 'Tab') {
        e.preventDefault();
        const items = focusables(box);
        const target = e.shiftKey ? items[items.length - 1] : items[0];
        (target ?? box).focus();
      }
    }
    document.addEventListener('keydown', onDocumentKeyDown);
    return () => {
      document.removeEventListener('keydown', onDocumentKeyDown);
      const i = openModals.indexOf(box);
      if (i >= 0) openModals.splice(i, 1);
    };
  }, []);

  function onKeyDown(e: KeyboardEvent<HTMLDivElement>) {
    if (e.key === 'Escape') {
      e.stopPropagation();
      e.preventDefault();
      onClose();
      return;
    }
    if (e.key !== 'Tab' || !boxRef.current) return;
    const items = focusables(boxRef.current);
    if (items.length === 0) {
      e.preventDefault();
      return;
    }
    const first = items[0];
    const last = items[items.length - 1];
    if (e.shiftKey && (document.activeElement === first || document.activeElement === boxRef.current)) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && document.activeElement === last) {
      e.preventDefault();
      first.focus();
    }
  }

  return createPortal(
    <div className="modal-backdrop">
      <div
        ref={boxRef}
        className={`modal modal--${size}`}
        role={alert ? 'alertdialog' : 'dialog'}
        aria-modal="true"
        aria-labelledby={titleId}
        aria-describedby={describedBy}
        tabIndex={-1}
        // Keys inside a nested modal must not reach the one underneath (React bubbles through portals).
        onKeyDown={(e) => {
          onKeyDown(e);
          e.stopPropagation();
        }}
      >
        <header className="modal__header">
          <h2 id={titleId} className="modal__title" title={title}>
            {title}
          </h2>
          <IconButton icon="x" label="Close" onClick={onClose} />
        </header>
        <div className="modal__body">{children}</div>
        {error ? (
          <p className="modal__error" role="alert" data-testid="dialog-error">
            {error}
          </p>
        ) : null}
        {footer ? <footer className="modal__footer">{footer}</footer> : null}
      </div>
    </div>,
    document.body,
  );
}
