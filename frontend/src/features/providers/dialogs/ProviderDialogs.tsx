import { useEffect } from 'react';
import type { Actions } from '../../../hooks/useActions';
import { nameOf, type NameMap } from '../../../logic/names';
import type { ProviderStatus, QuotaEntry } from '../../../types';
import { DeleteProviderDialog } from './DeleteProviderDialog';
import { KeyDialog } from './KeyDialog';
import { ProviderDialog } from './ProviderDialog';
import { RenameDialog } from './RenameDialog';
import { UsageDialog } from './UsageDialog';
import { own } from '../../../logic/own';

export type RowDialog = 'edit' | 'rename' | 'key' | 'delete' | 'usage';
/** `retry`: the key dialog opened after Add provider created the provider but the key was refused. */
export type OpenDialog =
  | { kind: 'add' }
  | { kind: RowDialog; id: string }
  | { kind: 'key'; id: string; retry: { key: string; error: string } }
  | null;

interface Props {
  dialog: OpenDialog;
  providers: Record<string, ProviderStatus>;
  quota: Record<string, QuotaEntry>;
  names: NameMap;
  existingIds: readonly string[];
  actions: Actions;
  /** Check a provider's usage again (after its usage settings changed). */
  onRefreshUsage: (id: string) => void;
  /** Add provider created the provider, but its key was refused. */
  onKeyRefused: (id: string, key: string, message: string) => void;
  /** The open row dialog's provider is gone (renamed or deleted elsewhere). */
  onGone: () => void;
  /** Delete or Rename succeeded: the dialog is done (the caller closes it and places focus). */
  onDeleted: () => void;
  onRenamed: (newId: string) => void;
  onClose: () => void;
}

/**
 * The one provider dialog that is open, if any. The dialogs show a server's refusal themselves, so
 * they get the actions without error toasts. A row dialog whose provider is gone reports it (the
 * caller closes it and says so), so it never comes back by itself when the id reappears.
 */
export function ProviderDialogs(props: Props) {
  const { dialog, providers, quota, names, existingIds, onRefreshUsage, onClose } = props;
  const actions = props.actions.inline;
  if (!dialog) return null;
  if (dialog.kind === 'add') {
    return (
      <ProviderDialog
        id={null}
        name=""
        provider={null}
        existingIds={existingIds}
        onUpsert={actions.upsertProvider}
        onSetKey={actions.setProviderKey}
        onKeyRefused={props.onKeyRefused}
        onClose={onClose}
      />
    );
  }
  const { id } = dialog;
  const provider = own(providers, id);
  if (!provider) return <ProviderGone onGone={props.onGone} />;
  const name = nameOf(names, id);
  switch (dialog.kind) {
    case 'edit':
      return (
        <ProviderDialog
          id={id}
          name={name}
          provider={provider}
          existingIds={existingIds}
          onUpsert={actions.upsertProvider}
          onSetKey={actions.setProviderKey}
          onKeyRefused={props.onKeyRefused}
          onClose={onClose}
        />
      );
    case 'rename':
      return (
        <RenameDialog
          id={id}
          name={name}
          existingIds={existingIds}
          onRename={actions.renameProvider}
          onRenamed={props.onRenamed}
          onClose={onClose}
        />
      );
    case 'key':
      return (
        <KeyDialog
          id={id}
          name={name}
          provider={provider}
          retry={'retry' in dialog ? dialog.retry : undefined}
          onSetKey={actions.setProviderKey}
          onClearKey={actions.clearProviderKey}
          onClose={onClose}
        />
      );
    case 'usage':
      return (
        <UsageDialog
          id={id}
          name={name}
          provider={provider}
          entry={own(quota, id)}
          actions={actions}
          onRefresh={onRefreshUsage}
          onClose={onClose}
        />
      );
    case 'delete':
      return (
        <DeleteProviderDialog id={id} name={name} onDelete={actions.deleteProvider} onDeleted={props.onDeleted} onClose={onClose} />
      );
  }
}

/** Tells the caller once that the dialog's provider is gone (the status no longer has it). */
function ProviderGone({ onGone }: { onGone: () => void }) {
  useEffect(() => {
    onGone();
  }, [onGone]);
  return null;
}
