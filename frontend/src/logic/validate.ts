// Input validation, run before anything is sent. Pure. Each validator returns an error message
// for a person, or null when the value is fine.

export const PROVIDER_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export type FieldErrors<K extends string = string> = Partial<Record<K, string>>;

export function validateProviderId(
  raw: string,
  existingIds: readonly string[],
  currentId: string | null = null,
): string | null {
  const id = raw.trim();
  if (!id) return 'Enter a provider id';
  if (!PROVIDER_ID_RE.test(id)) {
    return 'Use 1–64 letters, digits, "_", "." or "-", starting with a letter or digit';
  }
  if (id !== currentId && existingIds.includes(id)) return `A provider called "${id}" already exists`;
  return null;
}

export function validateBaseUrl(raw: string): string | null {
  const value = raw.trim();
  if (!value) return 'Enter the base URL';
  if (!/^https?:\/\//i.test(value)) return 'The URL must start with http:// or https://';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'That is not a valid URL';
  }
  if (!url.hostname) return 'The URL needs a host name';
  if (/\s/.test(value)) return 'The URL must not contain spaces';
  return null;
}

/** `required` false lets an empty name through (the backend then uses the id). */
export function validateDisplayName(raw: string, required = true): string | null {
  const value = raw.trim();
  if (!value) return required ? 'Enter a display name' : null;
  if (value.length > 200) return 'Keep the display name under 200 characters';
  return null;
}

export function validateApiKey(raw: string): string | null {
  const value = raw.trim();
  if (!value) return 'Enter the API key';
  if (/\s/.test(value)) return 'The key must not contain spaces or line breaks';
  return null;
}

export interface ProviderFormValues {
  id: string;
  display_name: string;
  base_url: string;
}

/** Validates the add/edit provider form. `currentId` is null when adding. */
export function validateProviderForm(
  values: ProviderFormValues,
  existingIds: readonly string[],
  currentId: string | null,
): FieldErrors<keyof ProviderFormValues> {
  const errors: FieldErrors<keyof ProviderFormValues> = {};
  const idError = validateProviderId(values.id, existingIds, currentId);
  if (idError) errors.id = idError;
  const nameError = validateDisplayName(values.display_name, currentId !== null);
  if (nameError) errors.display_name = nameError;
  const urlError = validateBaseUrl(values.base_url);
  if (urlError) errors.base_url = urlError;
  return errors;
}

export function hasErrors(errors: Record<string, unknown>): boolean {
  return Object.values(errors).some(Boolean);
}

/** Usage base URL: empty means "derived from the base URL"; otherwise an absolute http(s) URL. */
export function validateUsageBaseUrl(raw: string): string | null {
  if (!raw.trim()) return null;
  return validateBaseUrl(raw);
}

/** Usage token: optional in the form (empty = leave as is); never with spaces. */
export function validateUsageToken(raw: string): string | null {
  const value = raw.trim();
  if (!value) return null;
  if (/\s/.test(value)) return 'The token must not contain spaces or line breaks';
  return null;
}
