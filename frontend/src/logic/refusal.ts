// Where a dialog shows a server refusal: at the field the message names, else as the dialog's own
// error line. The backend starts a refusal of one argument with its name ("base_url 'x' has no host",
// "key must be printable…", "display_name must be at most 200 characters"). Pure.

import { own } from './own';

export type RefusedField = 'id' | 'display_name' | 'base_url' | 'usage_base_url' | 'key' | 'token';

const LEADING: Record<string, RefusedField> = {
  provider: 'id',
  new_id: 'id',
  display_name: 'display_name',
  base_url: 'base_url',
  usage_base_url: 'usage_base_url',
  key: 'key',
  token: 'token',
};

/** The form field a server refusal clearly names, or null (then the dialog shows it as a whole). */
export function refusedField(message: string): RefusedField | null {
  const text = message.trim();
  const first = /^([a-z_]+)\b/.exec(text)?.[1];
  const field = own(LEADING, first);
  if (field) return field;
  if (/^a provider named .* already exists/i.test(text)) return 'id';
  return null;
}
