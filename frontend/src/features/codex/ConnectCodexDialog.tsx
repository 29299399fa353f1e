import { useEffect, useState } from 'react';
import type { Actions } from '../../hooks/useActions';
import type { CodexSetup } from '../../types';
import { Badge } from '../../ui/Badge';
import { ConfirmDialog } from '../../ui/ConfirmDialog';
import { CopyButton } from '../../ui/CopyButton';
import { Modal } from '../../ui/Modal';

interface Props {
  actions: Pick<Actions, 'getCodexSetup' | 'applyCodexSetup' | 'restoreCodexBackup'>;
  onClose: () => void;
}

/** Shows the Codex config.toml block and auth.json, writes them, or restores the backups. */
export function ConnectCodexDialog({ actions, onClose }: Props) {
  const [setup, setSetup] = useState<CodexSetup | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [confirmRestore, setConfirmRestore] = useState(false);

  useEffect(() => {
    let live = true;
    void actions.getCodexSetup().then((r) => {
      if (!live) return;
      if (r.ok) setSetup(r.value);
      else setLoadError(r.error.message);
    });
    return () => {
      live = false;
    };
  }, [actions]);

  async function apply() {
    setBusy(true);
    try {
      const r = await actions.applyCodexSetup();
      if (r.ok) setSetup(r.value);
    } finally {
      setBusy(false);
    }
  }

  async function restore() {
    setBusy(true);
    try {
      const r = await actions.restoreCodexBackup();
      if (r.ok) setSetup(r.value);
      setConfirmRestore(false);
    } finally {
      setBusy(false);
    }
  }

  return (
    <Modal
      title="Connect Codex"
      size="lg"
      onClose={onClose}
      footer={
        <>
          <button
            type="button"
            className="btn footer-left"
            disabled={busy || !setup?.has_backup}
            onClick={() => setConfirmRestore(true)}
            title={setup?.has_backup ? 'Put back the files saved before the last write' : 'No backup yet'}
          >
            Restore backup
          </button>
          <button type="button" className="btn" onClick={onClose}>
            Close
          </button>
          <button type="button" className="btn btn--primary" disabled={busy || !setup} onClick={apply}>
            Write Codex config
          </button>
        </>
      }
    >
      {loadError ? (
        <p className="text-bad" role="alert">
          {loadError}
        </p>
      ) : !setup ? (
        <p className="muted">Loading…</p>
      ) : (
        <div className="codex">
          <dl className="kv">
            <dt>State</dt>
            <dd data-testid="codex-configured">
              {setup.configured ? (
                <Badge tone="ok">Configured for this gateway</Badge>
              ) : (
                <Badge tone="warn">Not configured</Badge>
              )}
              {setup.has_backup ? <span className="muted"> · backup available</span> : null}
            </dd>
            <dt>Codex home</dt>
            <dd className="mono ellipsis" title={setup.codex_home}>
              {setup.codex_home}
            </dd>
          </dl>
          <p className="muted small">
            “Write” backs up both files first, merges the block into config.toml (other settings and comments are kept)
            and writes auth.json.
          </p>
          <FileBlock path={setup.config_path} text={setup.config_block} what="config.toml block" />
          <FileBlock path={setup.auth_path} text={setup.auth_json} what="auth.json content" />
        </div>
      )}
      {confirmRestore ? (
        <ConfirmDialog
          title="Restore the Codex backup?"
          confirmLabel="Restore backup"
          danger
          onClose={() => setConfirmRestore(false)}
          onConfirm={restore}
        >
          <p>config.toml and auth.json go back to the copies saved before the last write.</p>
        </ConfirmDialog>
      ) : null}
    </Modal>
  );
}

/** One file's content with its path and a copy button. */
function FileBlock({ path, text, what }: { path: string; text: string; what: string }) {
  return (
    <div className="codeblock">
      <div className="codeblock__head">
        <span className="mono ellipsis" title={path}>
          {path}
        </span>
        <CopyButton text={text} label={`Copy ${what}`} />
      </div>
      <pre aria-label={what} tabIndex={0}>
        {text}
      </pre>
    </div>
  );
}
