import { useCallback, useEffect, useRef, useState, type FocusEvent, type RefCallback } from 'react';
import { useToastList, useToasts, type Toast } from '../hooks/toasts';
import { useFocusFallback } from '../hooks/useFocusFallback';
import { useLastInputByPointer } from '../hooks/useLastInputByPointer';
import { truncate } from '../logic/format';
import { Icon } from './Icon';
import { IconButton } from './IconButton';

/**
 * "Dismiss: <title>" — with the start of the message when another toast on screen has the same title:
 * two toasts must not offer two buttons a screen reader cannot tell apart.
 */
export function dismissLabel(toast: Toast, all: readonly Toast[]): string {
  const twin = all.some((t) => t.id !== toast.id && !t.spokenOnly && t.title === toast.title);
  const what = twin && toast.message ? `${toast.title} — ${toast.message}` : toast.title;
  return `Dismiss: ${truncate(what, 80)}`;
}

/** Where the focus goes once the toast holding it is gone and no toast is left to take it: the page's heading, else its main content. */
function mainContent(): HTMLElement | null {
  return document.querySelector<HTMLElement>('main h1[tabindex]') ?? document.querySelector<HTMLElement>('main');
}

export function Toasts() {
  const toasts = useToastList();
  // The control that had the focus before it came into the notifications: it gets it back when the
  // last toast holding it goes.
  const before = useRef<HTMLElement | null>(null);
  const region = useRef<HTMLDivElement>(null);
  const rememberOrigin = (e: FocusEvent<HTMLDivElement>) => {
    const from = e.relatedTarget;
    if (from instanceof HTMLElement && !region.current?.contains(from)) before.current = from;
  };
  const byPointer = useLastInputByPointer(); // read when a toast takes the focus
  const back = useCallback((): HTMLElement | null => {
    const origin = before.current;
    if (origin && origin.isConnected && !region.current?.contains(origin)) return origin;
    return mainContent();
  }, []);
  const item = (t: Toast) =>
    t.spokenOnly ? (
      <p key={t.id} className="sr-only">
        {t.title}
      </p>
    ) : (
      <ToastItem key={t.id} toast={t} label={dismissLabel(t, toasts)} back={back} byPointer={byPointer} />
    );
  return (
    <div className="toasts" aria-label="Notifications" role="region" ref={region} onFocus={rememberOrigin}>
      <div role="status" aria-live="polite" className="toasts__list">
        {toasts.filter((t) => t.tone !== 'error').map(item)}
      </div>
      <div aria-live="assertive" className="toasts__list">
        {toasts.filter((t) => t.tone === 'error').map(item)}
      </div>
    </div>
  );
}

/** The dismiss button of the toast beside `el` (the one after it, else the one before, else any other). */
function neighbour(el: HTMLElement): HTMLElement | null {
  const button = (toast: Element | null) => toast?.querySelector<HTMLElement>('.toast__dismiss') ?? null;
  const other = Array.from(el.closest('.toasts')?.querySelectorAll('.toast') ?? []).find((t) => t !== el) ?? null;
  return button(el.nextElementSibling) ?? button(el.previousElementSibling) ?? button(other);
}

interface ItemProps {
  toast: Toast;
  label: string;
  back: () => HTMLElement | null;
  /** Whether the last input was a pointer's (not a key's): see the toast's onFocus. */
  byPointer: () => boolean;
}

function ToastItem({ toast, label, back, byPointer }: ItemProps) {
  const { dismiss, hold, release } = useToasts();
  const [focused, setFocused] = useState(false);
  const [pointed, setPointed] = useState(false);
  const held = focused || pointed;
  const { id } = toast;
  // A toast does not expire under the reader: not while the pointer is on it or the focus is in it.
  useEffect(() => {
    if (!held) return undefined;
    hold(id);
    return () => release(id);
  }, [held, id, hold, release]);

  // Dismissed (or pushed out by newer ones) holding the focus: to the next toast, else back where the
  // focus came from — never to <body>, where the next Tab starts over at the top of the page.
  const next = useRef<HTMLElement | null>(null);
  const fallback = useFocusFallback<HTMLDivElement>(() => (next.current?.isConnected ? next.current : back()));
  const ref: RefCallback<HTMLDivElement> = useCallback(
    (el: HTMLDivElement | null) => {
      const cleanup = fallback(el);
      if (!el) return undefined;
      return () => {
        next.current = neighbour(el); // while it is still in the list
        cleanup?.();
      };
    },
    [fallback],
  );

  const error = toast.tone === 'error';
  return (
    <div
      ref={ref}
      className={`toast toast--${toast.tone}`}
      role={error ? 'alert' : undefined}
      data-testid={error ? 'toast-error' : undefined}
      // Held by keyboard focus only: a toast closed with the mouse hands the focus to the next one, which
      // a mouse user is not reading, and which must then still go in its time.
      onFocus={() => setFocused(!byPointer())}
      onBlur={(e) => {
        if (!e.currentTarget.contains(e.relatedTarget as Node | null)) setFocused(false);
      }}
      onPointerEnter={() => setPointed(true)}
      onPointerLeave={() => setPointed(false)}
    >
      <Icon name={error ? 'error' : toast.tone === 'success' ? 'check' : 'info'} />
      <div className="toast__text">
        <strong>{toast.title}</strong>
        {toast.message ? <span className={error ? 'toast__message' : undefined}>{toast.message}</span> : null}
      </div>
      <IconButton icon="x" label={label} className="toast__dismiss" onClick={() => dismiss(id)} />
    </div>
  );
}
