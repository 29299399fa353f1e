import type { Actions } from '../../../hooks/useActions';
import { nameOf, type NameMap } from '../../../logic/names';
import type { ProviderStatus, QuotaEntry } from '../../../types';
import { DeleteProviderDialog } from './DeleteProviderDialog';
import { KeyDialog } from './KeyDialog';
import { ProviderDialog } from './ProviderDialog';
import { RenameDialog } from './RenameDialog';
import { UsageDialog } from './UsageDialog';

export type RowDialog = 'edit' | 'rename' | 'key' | 'delete' | 'usage';
export type OpenDialog = { kind: 'add' } | { kind: RowDialog; id: string } | null;

interface Props {
  dialog: OpenDialog;
  providers: Record<string, ProviderStatus>;
  quota: Record<string, QuotaEntry>;
  names: NameMap;
  existingIds: readonly string[];
  actions: Actions;
  /** Check a provider's usage again (after its usage settings changed). */
  onRefreshUsage: (id: string) => void;
  onClose: () => void;
}

/** The one provider dialog that is open, if any. A row dialog closes itself when its provider is gone. */
export function ProviderDialogs({ dialog, providers, quota, names, existingIds, actions, onRefreshUsage, onClose }: Props) {
  if (!dialog) return null;
  if (dialog.kind === 'add') {
    return (
      <ProviderDialog
        id={null}
        provider={null}
        existingIds={existingIds}
        onUpsert={actions.upsertProvider}
        onSetKey={actions.setProviderKey}
        onClose={onClose}
      />
    );
  }
  const { id } = dialog;
  const provider = providers[id];
  if (!provider) return null;
  const name = nameOf(names, id);
  switch (dialog.kind) {
    case 'edit':
      return (
        <ProviderDialog
          id={id}
          provider={provider}
          existingIds={existingIds}
          onUpsert={actions.upsertProvider}
          onSetKey={actions.setProviderKey}
          onClose={onClose}
        />
      );
    case 'rename':
      return <RenameDialog id={id} name={name} existingIds={existingIds} onRename={actions.renameProvider} onClose={onClose} />;
    case 'key':
      return (
        <KeyDialog
          id={id}
          name={name}
          provider={provider}
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
          entry={quota[id]}
          actions={actions}
          onRefresh={onRefreshUsage}
          onClose={onClose}
        />
      );
    case 'delete':
      return <DeleteProviderDialog id={id} name={name} onDelete={actions.deleteProvider} onClose={onClose} />;
  }
}
