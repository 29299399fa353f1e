import { useRef, useState } from 'react';
import type { CodexState } from '../../types';
import { maskedAuthJson } from '../../logic/format';
import { Badge } from '../../ui/Badge';
import { ConfirmDialog } from '../../ui/ConfirmDialog';
import { CopyButton } from '../../ui/CopyButton';
import { IconButton } from '../../ui/IconButton';
import { Modal } from '../../ui/Modal';
import type { CodexSetupStore } from './useCodexSetup';
import { Button } from '../../ui/Button';
import { own } from '../../logic/own';

interface Props {
  codex: CodexSetupStore;
  onClose: () => void;
}

const STATES: Record<CodexState, { label: string; tone: 'ok' | 'warn' | 'neutral'; text: string }> = {
  connected: {
    label: 'Connected',
    tone: 'ok',
    text: 'Codex uses this gateway with the current token.',
  },
  token_out_of_date: {
    label: 'Token out of date',
    tone: 'warn',
    text: 'Codex points at this gateway, but its auth.json holds another token, so its requests are refused. Rewrite auth.json to fix it.',
  },
  not_connected: {
    label: 'Not connected',
    tone: 'neutral',
    text: 'Codex does not use this gateway yet.',
  },
};

/**
 * Shows the Codex config.toml block and auth.json, where Codex stands (connected / token out of date /
 * not connected), writes the files, or restores the backups. The opener reads the setup afresh.
 */
export function ConnectCodexDialog({ codex, onClose }: Props) {
  const [confirmRestore, setConfirmRestore] = useState(false);
  const { setup, state, loadError, busy } = codex;

  const meta = own(STATES, state) ?? null;
  const outOfDate = state === 'token_out_of_date';
  // The dialog opens on what it is for, not on the first button in its footer (Restore backup, which
  // without a backup can do nothing).
  const write = useRef<HTMLButtonElement>(null);

  return (
    <Modal
      title="Connect Codex"
      size="lg"
      onClose={onClose}
      initialFocus={write}
      error={codex.actionError}
      footer={
        <>
          {/* Soft-disabled too: its own restore leaves it with no backup, and a disabled button would
              drop the focus it gets back from the confirm dialog to <body>. */}
          <Button
            type="button"
            className="btn footer-left"
            softDisabled={busy || !setup?.has_backup}
            onClick={() => setConfirmRestore(true)}
            title={setup?.has_backup ? 'Put back the files saved before the last write' : 'No backup yet'}
          >
            Restore backup
          </Button>
          <button type="button" className="btn" onClick={onClose}>
            Close
          </button>
          {/* Busy is soft-disabled, not disabled: a disabled button drops the focus it has. */}
          <Button
            ref={write}
            type="button"
            className="btn btn--primary"
            disabled={!setup}
            aria-busy={busy || undefined}
            softDisabled={busy}
            onClick={() => void codex.apply()}
          >
            {outOfDate ? 'Rewrite auth.json' : 'Write Codex config'}
          </Button>
        </>
      }
    >
      {loadError ? (
        <p className="text-bad" role="alert">
          {loadError}
        </p>
      ) : !setup || !meta ? (
        <p className="muted">Loading…</p>
      ) : (
        <div className="codex">
          <dl className="kv">
            <dt>State</dt>
            <dd data-testid="codex-state" data-state={state}>
              <Badge tone={meta.tone}>{meta.label}</Badge>
              {setup.has_backup ? <span className="muted"> · backup available</span> : null}
            </dd>
            <dt>Codex home</dt>
            <dd className="mono wrap-anywhere" title={setup.codex_home}>
              {setup.codex_home}
            </dd>
          </dl>
          {codex.notice ? (
            <p className="codex__notice" role="status" data-testid="codex-notice">
              {codex.notice}
            </p>
          ) : null}
          <p className={outOfDate ? 'codex__state codex__state--warn' : 'codex__state muted'} role={outOfDate ? 'alert' : undefined}>
            {meta.text}
          </p>
          <p className="muted small">
            “Write” backs up both files first, merges the block into config.toml (other settings and comments are kept)
            and writes auth.json. Rotating the gateway token later updates auth.json by itself.
          </p>
          <FileBlock path={setup.config_path} text={setup.config_block} what="config.toml block" />
          <FileBlock path={setup.auth_path} text={setup.auth_json} masked={maskedAuthJson(setup.auth_json)}
            what="auth.json content" />
        </div>
      )}
      {confirmRestore ? (
        <ConfirmDialog
          title="Restore the Codex backup?"
          confirmLabel="Restore backup"
          danger
          onClose={() => setConfirmRestore(false)}
          onConfirm={async () => {
            await codex.restore();
            setConfirmRestore(false);
          }}
        >
          <p>config.toml and auth.json go back to the copies saved before the last write.</p>
        </ConfirmDialog>
      ) : null}
    </Modal>
  );
}

/** One file's content with its path and a copy button. */
/** A file's content with a copy button; ``shown`` when what is on screen differs from what is copied. */
/** A file's text; ``masked``: what is shown until the user asks to see it whole (the copy is always whole). */
function FileBlock({ path, text, masked, what }: { path: string; text: string; masked?: string; what: string }) {
  const [whole, setWhole] = useState(false);
  return (
    <div className="codeblock">
      <div className="codeblock__head">
        <span className="mono ellipsis" title={path}>
          {path}
        </span>
        {masked !== undefined ? (
          <IconButton
            icon={whole ? 'eye-off' : 'eye'}
            label={whole ? `Hide the token in ${what}` : `Show the token in ${what}`}
            aria-pressed={whole}
            onClick={() => setWhole((w) => !w)}
          />
        ) : null}
        <CopyButton text={text} label={`Copy ${what}`} />
      </div>
      <pre aria-label={what} tabIndex={0}>
        {masked === undefined || whole ? text : masked}
      </pre>
    </div>
  );
}
