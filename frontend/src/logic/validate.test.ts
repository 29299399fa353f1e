import { describe, expect, it } from 'vitest';
import {
  PROVIDER_ID_RE,
  hasErrors,
  validateApiKey,
  validateBaseUrl,
  validateDisplayName,
  validateProviderForm,
  validateProviderId,
} from './validate';

describe('validateProviderId', () => {
  const existing = ['p1', 'relay.two'];

  it.each(['a', 'p3', 'Relay_1', 'relay.three', 'a-b', '9lives', 'x'.repeat(64)])('accepts %s', (id) => {
    expect(validateProviderId(id, existing)).toBeNull();
    expect(PROVIDER_ID_RE.test(id)).toBe(true);
  });

  it.each(['', ' ', '_x', '.x', '-x', 'has space', 'ümlaut', 'a/b', 'x'.repeat(65)])('refuses %j', (id) => {
    expect(validateProviderId(id, existing)).not.toBeNull();
  });

  it('refuses an id that already exists', () => {
    expect(validateProviderId('p1', existing)).toMatch(/already exists/);
    expect(validateProviderId(' p1 ', existing)).toMatch(/already exists/);
  });

  it('lets a provider keep its own id', () => {
    expect(validateProviderId('p1', existing, 'p1')).toBeNull();
  });
});

describe('validateBaseUrl', () => {
  it.each(['http://127.0.0.1:8080/v1', 'https://relay.example.com/v1', 'HTTPS://x.y', 'http://localhost'])(
    'accepts %s',
    (url) => expect(validateBaseUrl(url)).toBeNull(),
  );
  it.each([
    ['', /Enter/],
    ['relay.example.com/v1', /http/],
    ['ftp://x.y', /http/],
    ['https://', /valid|host/],
    ['https://exa mple.com', /valid|spaces/],
  ])('refuses %j', (url, msg) => expect(validateBaseUrl(url)).toMatch(msg));
});

describe('names and keys', () => {
  it('display name must not be blank unless optional', () => {
    expect(validateDisplayName('  ')).toMatch(/Enter/);
    expect(validateDisplayName('  ', false)).toBeNull();
    expect(validateDisplayName('Relay One')).toBeNull();
    expect(validateDisplayName('x'.repeat(201))).not.toBeNull();
  });
  it('api key must be non-empty and have no whitespace inside', () => {
    expect(validateApiKey('')).not.toBeNull();
    expect(validateApiKey('   ')).not.toBeNull();
    expect(validateApiKey('sk-a b')).not.toBeNull();
    expect(validateApiKey(' sk-abc ')).toBeNull();
  });
});

describe('validateProviderForm', () => {
  it('collects one error per bad field', () => {
    const errors = validateProviderForm({ id: 'p1', display_name: '', base_url: 'nope' }, ['p1'], null);
    expect(Object.keys(errors).sort()).toEqual(['base_url', 'id']); // name optional when adding
    expect(hasErrors(errors)).toBe(true);
  });
  it('requires a display name when editing', () => {
    const errors = validateProviderForm({ id: 'p1', display_name: ' ', base_url: 'https://a.b' }, ['p1'], 'p1');
    expect(Object.keys(errors)).toEqual(['display_name']);
  });
  it('passes a good form', () => {
    const errors = validateProviderForm({ id: 'p9', display_name: 'Nine', base_url: 'https://a.b/v1' }, ['p1'], null);
    expect(hasErrors(errors)).toBe(false);
  });
});
