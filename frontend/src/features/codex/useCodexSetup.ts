import { useCallback, useState } from 'react';
import type { Bridge } from '../../bridge';
import type { Actions } from '../../hooks/useActions';
import { useBusy } from '../../hooks/useBusy';
import { useQuery } from '../../hooks/useQuery';
import type { CodexSetup, CodexState } from '../../types';

export interface CodexSetupStore {
  setup: CodexSetup | null;
  /** Where Codex stands: from `state`, or from `configured` on a backend without it. */
  state: CodexState | null;
  loadError: string | null;
  /** Why the last write or restore was refused (the dialog shows it; no toast over it). */
  actionError: string | null;
  /** What the last write or restore did (the dialog shows it as a status line; no toast over it). */
  notice: string | null;
  busy: boolean;
  /** Read the setup again (after the dialog opens, and after the gateway token was rotated). */
  reload: () => Promise<void>;
  /** Write config.toml and auth.json (also the fix for a token that is out of date). */
  apply: () => Promise<void>;
  restore: () => Promise<boolean>;
}

const CODEX_POLL_MS = 10_000;

export function codexState(setup: CodexSetup | null): CodexState | null {
  if (!setup) return null;
  return setup.state ?? (setup.configured ? 'connected' : 'not_connected');
}

/** The Connect Codex state, shared by the header button and the dialog. */
export function useCodexSetup(
  bridge: Bridge,
  actions: Pick<Actions, 'applyCodexSetup' | 'restoreCodexBackup'>,
): CodexSetupStore {
  const load = useCallback(() => bridge.call('get_codex_setup'), [bridge]);
  // Read again now and then: Codex's files may change outside the app (the header says so without a reload).
  const query = useQuery('codex-setup', load, CODEX_POLL_MS);
  const [written, setWritten] = useState<{ value: CodexSetup; over: CodexSetup | null } | null>(null);
  const [busy, whileBusy] = useBusy();
  const [actionError, setActionError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const { refresh, data } = query;

  // What apply/restore returned is newer than the read it followed, until a read brings something else.
  const setup = written && written.over === data ? written.value : data;

  const reload = useCallback(async () => {
    setWritten(null);
    setActionError(null);
    setNotice(null);
    await refresh();
  }, [refresh]);

  const apply = useCallback(
    () =>
      whileBusy(async () => {
        setActionError(null);
        setNotice(null);
        const r = await actions.applyCodexSetup();
        if (r.ok) {
          setWritten({ value: r.value, over: data });
          setNotice('Codex configured: config.toml and auth.json were written (the old files were backed up).');
        } else setActionError(r.error.message);
      }),
    [actions, data, whileBusy],
  );

  const restore = useCallback(
    () =>
      whileBusy(async () => {
        setActionError(null);
        setNotice(null);
        const r = await actions.restoreCodexBackup();
        if (r.ok) {
          setWritten({ value: r.value, over: data });
          setNotice('Codex backup restored: config.toml and auth.json are back to the saved copies.');
        } else setActionError(r.error.message);
        return r.ok;
      }),
    [actions, data, whileBusy],
  );

  return {
    setup,
    state: codexState(setup),
    loadError: setup ? null : query.error,
    actionError,
    notice,
    busy,
    reload,
    apply,
    restore,
  };
}
