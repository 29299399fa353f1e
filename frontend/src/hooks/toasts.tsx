import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';

export type ToastTone = 'error' | 'success' | 'info';

export interface Toast {
  id: number;
  tone: ToastTone;
  title: string;
  message?: string;
  /** Heard, not seen: for what the screen already shows another way (a copy button's tick), read out by
   * a screen reader through the same live region as the other notifications. */
  spokenOnly?: boolean;
}

export interface ToastApi {
  push: (toast: Omit<Toast, 'id'>) => number;
  dismiss: (id: number) => void;
  /**
   * Stops the toast's timer while someone reads or reaches for it (the pointer is over it, or the
   * keyboard focus is in it); `release` starts it again.
   */
  hold: (id: number) => void;
  release: (id: number) => void;
}

/** A toast's dismissal timer: running (`handle`) or held, with the time it has left. */
interface Timer {
  handle: ReturnType<typeof setTimeout> | null;
  leftMs: number;
  startedAt: number;
}

const ToastContext = createContext<ToastApi | null>(null);
const ToastListContext = createContext<Toast[]>([]);

const LIFETIME_MS: Record<ToastTone, number> = { error: 10_000, success: 3_000, info: 4_000 };
const MAX_TOASTS = 5;
/** What a toast has left at least once it is let go: one about to expire must not vanish as the pointer leaves it. */
const MIN_AFTER_HOLD_MS = 2_000;

export function ToastProvider({ children }: { children: ReactNode }) {
  const [toasts, setToasts] = useState<Toast[]>([]);
  const nextId = useRef(1);
  const timers = useRef(new Map<number, Timer>());

  const dismiss = useCallback((id: number) => {
    const t = timers.current.get(id);
    if (t?.handle) clearTimeout(t.handle);
    timers.current.delete(id);
    setToasts((list) => list.filter((x) => x.id !== id));
  }, []);

  const run = useCallback(
    (id: number, leftMs: number) => {
      timers.current.set(id, { handle: setTimeout(() => dismiss(id), leftMs), leftMs, startedAt: Date.now() });
    },
    [dismiss],
  );

  const hold = useCallback((id: number) => {
    const t = timers.current.get(id);
    if (!t?.handle) return;
    clearTimeout(t.handle);
    timers.current.set(id, { handle: null, leftMs: t.leftMs - (Date.now() - t.startedAt), startedAt: 0 });
  }, []);

  const release = useCallback(
    (id: number) => {
      const t = timers.current.get(id);
      if (!t || t.handle) return; // dismissed meanwhile, or not held
      run(id, Math.max(t.leftMs, MIN_AFTER_HOLD_MS));
    },
    [run],
  );

  const push = useCallback(
    (toast: Omit<Toast, 'id'>) => {
      const id = nextId.current++;
      setToasts((list) => {
        // The same error repeated (e.g. a button pressed twice) shows once.
        const rest = list.filter((x) => !(x.title === toast.title && x.message === toast.message));
        const next = [...rest, { ...toast, id }];
        // At most MAX_TOASTS on screen, the oldest going first; one only heard takes no place there.
        const shown = next.filter((x) => !x.spokenOnly);
        const gone = new Set(shown.slice(0, Math.max(0, shown.length - MAX_TOASTS)).map((x) => x.id));
        return gone.size ? next.filter((x) => !gone.has(x.id)) : next;
      });
      run(id, LIFETIME_MS[toast.tone]);
      return id;
    },
    [run],
  );

  // A toast's timer must not outlive the provider (its state is gone with it).
  useEffect(() => {
    const pending = timers.current;
    return () => {
      for (const t of pending.values()) if (t.handle) clearTimeout(t.handle);
      pending.clear();
    };
  }, []);

  const api = useMemo(() => ({ push, dismiss, hold, release }), [push, dismiss, hold, release]);
  return (
    <ToastContext.Provider value={api}>
      <ToastListContext.Provider value={toasts}>{children}</ToastListContext.Provider>
    </ToastContext.Provider>
  );
}

export function useToasts(): ToastApi {
  const api = useContext(ToastContext);
  if (!api) throw new Error('useToasts needs a ToastProvider');
  return api;
}

export function useToastList(): Toast[] {
  return useContext(ToastListContext);
}
