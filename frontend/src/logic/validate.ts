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

/** The longest base URL (or usage base URL) the backend accepts, in characters. */
export const BASE_URL_MAX = 2048;

/**
 * The base URL rule the backend applies too (cases shared in validation-cases.json): after trimming,
 * `http://` or `https://` in any letter case, then a non-empty host (before any `/`, `?` or `#`,
 * without user info and port), no `@` after it (a password's raw `/`, `?` or `#` would put one
 * there), a port (when written) from 1 to 65535, and no whitespace anywhere. The
 * backend also checks the host itself (addresses, empty or over-long labels) and says why.
 */
export function validateBaseUrl(raw: string): string | null {
  const value = raw.trim();
  if (!value) return 'Enter the base URL';
  if (value.length > BASE_URL_MAX) {
    return `Keep the URL to ${BASE_URL_MAX.toLocaleString('en-US')} characters (it has ${value.length.toLocaleString('en-US')})`;
  }
  if (!/^https?:\/\//i.test(value)) return 'The URL must start with http:// or https://';
  if (/\s/.test(value)) return 'The URL must not contain spaces';
  if (!urlHost(value)) return 'The URL needs a host name after the "//"';
  const rest = value.replace(/^https?:\/\//i, '');
  if (rest.slice(rest.split(/[/?#]/, 1)[0].length).includes('@')) {
    return 'An "@" after the host: in a user name or password write "/", "?" and "#" as %2F, %3F and %23; in the path or query write the "@" as %40';
  }
  if (!bracketsOnlyAroundAnAddress(value)) {
    return 'Square brackets go only around an IPv6 address, before any port: http://[::1]:4000/v1';
  }
  const port = urlPort(value);
  if (port !== '' && !(/^\d{1,5}$/.test(port) && Number(port) >= 1 && Number(port) <= 65535)) {
    return 'The port (after the host\'s ":") must be a number from 1 to 65535';
  }
  return null;
}

/** The host and port of an http(s) URL as written: what is between the user info ("…@") and the path. */
function hostPortOf(url: string): string {
  const rest = url.trim().replace(/^https?:\/\//i, '');
  const authority = rest.split(/[/?#]/, 1)[0];
  return authority.slice(authority.lastIndexOf('@') + 1);
}

/** "[" and "]" in the host only as the two ends of an address ("[::1]"), followed by nothing or a ":port". */
function bracketsOnlyAroundAnAddress(url: string): boolean {
  const hostPort = hostPortOf(url);
  if (!hostPort.startsWith('[')) return !/[[\]]/.test(hostPort);
  const end = hostPort.indexOf(']');
  const after = hostPort.slice(end + 1);
  return end > 1 && !hostPort.slice(1, end).includes('[') && (after === '' || after.startsWith(':')) && !/[[\]]/.test(after);
}

/** The port of an http(s) URL as written ("" when there is none). */
export function urlPort(url: string): string {
  const hostPort = hostPortOf(url);
  const afterHost = hostPort.startsWith('[') ? hostPort.slice(hostPort.indexOf(']') + 1) : hostPort;
  const colon = afterHost.indexOf(':');
  return colon >= 0 ? afterHost.slice(colon + 1) : '';
}

/** The host of an http(s) URL as written ("" when there is none). */
export function urlHost(url: string): string {
  const hostPort = hostPortOf(url);
  if (hostPort.startsWith('[')) {
    const end = hostPort.indexOf(']');
    return end > 1 ? hostPort.slice(0, end + 1) : '';
  }
  const colon = hostPort.indexOf(':');
  return colon >= 0 ? hostPort.slice(0, colon) : hostPort;
}

/** What is saved for a valid base URL: trimmed, with the scheme in lower case ("HTTPS://X" → "https://X"). */
export function normalizeBaseUrl(raw: string): string {
  return raw.trim().replace(/^https?:\/\//i, (scheme) => scheme.toLowerCase());
}

/**
 * True when a (valid) URL has nothing after the host: most OpenAI-compatible providers expect the
 * API's path in the base URL (…/v1), and the backend appends /responses and /models to it.
 */
export function baseUrlHasNoPath(raw: string): boolean {
  const rest = raw.trim().replace(/^https?:\/\//i, '');
  const slash = rest.search(/[/?#]/);
  if (slash < 0) return true;
  return /^\/*([?#].*)?$/.test(rest.slice(slash));
}

/** A URL without a path (see baseUrlHasNoPath) with `/v1` as its path, a query or fragment kept after
 *  it: `https://h:8443?x=1` → `https://h:8443/v1?x=1`. */
export function withV1Path(raw: string): string {
  const [, origin, rest] = /^([^/?#]*\/\/[^/?#]*)\/*(.*)$/.exec(raw.trim()) ?? [raw, raw.trim(), ''];
  return `${origin}/v1${rest}`;
}

const DISPLAY_NAME_MAX = 200;

/**
 * `required` false lets an empty name through (the backend then uses the id). Length is counted in
 * characters (code points), as Python's len() does on the backend.
 */
export function validateDisplayName(raw: string, required = true): string | null {
  const value = raw.trim();
  if (!value) return required ? 'Enter a display name' : null;
  if (CONTROL.test(value)) return 'Leave out control characters (tabs, line breaks and the like)';
  if (DIRECTION.test(value)) return 'Leave out direction overrides (U+202A–U+202E, U+2066–U+2069): they turn the text around the name backwards';
  if (!VISIBLE.test(value)) return 'Use at least one visible character';
  const length = [...value].length;
  if (length > DISPLAY_NAME_MAX) return `Keep the display name to ${DISPLAY_NAME_MAX} characters (it has ${length})`;
  return null;
}

// The backend's rule (config/schema.py `_display_name_ok`): control characters (C0, DEL, C1) are
// refused — a NUL cuts the name short in the tray and notifications — and a name needs one character
// that shows: not white space, zero-width or another format character.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
// Direction embeddings, overrides and isolates (the backend's _DIRECTION): they reorder the text around the name.
const DIRECTION = /[\u202a-\u202e\u2066-\u2069]/;
// The same list as the backend's: characters that show nothing by themselves (fillers, joiners, variation
// selectors, tags…). Read by code point (the u flag), so a tag character is one, not two halves.
const VISIBLE = new RegExp(
  // Combining marks and selectors are listed on purpose: alone, they are what a name must have more than.
  // eslint-disable-next-line no-misleading-character-class
  '[^\\s\\u0000-\\u001f\\u007f-\\u009f' +
    '\\u00ad\\u034f\\u061c\\u115f\\u1160\\u17b4\\u17b5\\u180b-\\u180f\\u200b-\\u200f\\u202a-\\u202e' +
    '\\u2060-\\u206f\\u2800\\u3164\\ufe00-\\ufe0f\\ufeff\\uffa0\\ufff0-\\ufffb' +
    '\\u{1bca0}-\\u{1bca3}\\u{1d173}-\\u{1d17a}\\u{e0000}-\\u{e0fff}]',
  'u',
);

/** Characters a key or usage token may have (the backend's SECRET_MAX): a longer header fails every request. */
export const SECRET_MAX = 4096;

/**
 * What the backend refuses in a key or usage token (both travel in an HTTP header): more than
 * SECRET_MAX characters, whitespace, control and invisible characters (e.g. a pasted U+200B
 * zero-width space), and anything not ASCII.
 */
function secretProblem(value: string, what: 'key' | 'token'): string | null {
  const length = [...value].length;
  if (length > SECRET_MAX) {
    return `The ${what} is too long: at most ${SECRET_MAX.toLocaleString('en-US')} characters (it has ${length.toLocaleString('en-US')}); check what was pasted`;
  }
  if (/\s/.test(value)) return `The ${what} must not contain spaces or line breaks`;
  const invisible = /[\p{Cc}\p{Cf}\p{Co}\p{Cn}]/u.exec(value);
  if (invisible) {
    const code = invisible[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
    return `The ${what} contains an invisible or control character (U+${code}); check what was pasted`;
  }
  const other = /[^\x21-\x7e]/u.exec(value);
  if (other) return `The ${what} must be ASCII (letters, digits and symbols such as - _ .); it contains “${other[0]}”`;
  return null;
}

export function validateApiKey(raw: string): string | null {
  const value = raw.trim();
  if (!value) return 'Enter the API key';
  return secretProblem(value, 'key');
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

/** Usage base URL: empty means "the base URL's origin"; otherwise an absolute http(s) URL. */
export function validateUsageBaseUrl(raw: string): string | null {
  if (!raw.trim()) return null;
  return validateBaseUrl(raw);
}

/** Usage token: optional in the form (empty = leave as is); the same characters as a key. */
export function validateUsageToken(raw: string): string | null {
  const value = raw.trim();
  if (!value) return null;
  return secretProblem(value, 'token');
}
