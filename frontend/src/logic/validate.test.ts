import { describe, expect, it } from 'vitest';
import cases from './validation-cases.json';
import {
  withV1Path,
  PROVIDER_ID_RE,
  baseUrlHasNoPath,
  hasErrors,
  normalizeBaseUrl,
  urlHost,
  validateApiKey,
  validateBaseUrl,
  validateDisplayName,
  validateProviderForm,
  validateProviderId,
  validateUsageToken,
  SECRET_MAX,
} from './validate';

describe('the cases shared with the backend (validation-cases.json)', () => {
  it('has both kinds of case for both fields', () => {
    for (const field of ['base_url', 'display_name'] as const) {
      expect(cases[field].some((c) => c.valid)).toBe(true);
      expect(cases[field].some((c) => !c.valid)).toBe(true);
    }
  });
  it.each(cases.base_url)('base_url $value → valid: $valid', ({ value, valid }) => {
    expect(validateBaseUrl(value) === null).toBe(valid);
  });
  it.each(cases.display_name.map((c) => ({ ...c, shown: c.value.length > 24 ? `${c.value.slice(0, 12)}…(${[...c.value].length})` : c.value })))(
    'display_name $shown → valid: $valid',
    ({ value, valid }) => {
      expect(validateDisplayName(value) === null).toBe(valid);
    },
  );
});

describe('base URL helpers', () => {
  it('lower-cases only the scheme before saving', () => {
    expect(normalizeBaseUrl(' HTTPS://Relay.Example.com/V1 ')).toBe('https://Relay.Example.com/V1');
    expect(normalizeBaseUrl('Http://x.y')).toBe('http://x.y');
    expect(normalizeBaseUrl('https://x.y/HTTPS://')).toBe('https://x.y/HTTPS://');
  });
  it('finds the host', () => {
    expect(urlHost('https://relay.example.com:8443/v1')).toBe('relay.example.com');
    expect(urlHost('https://u:p@relay.example.com/v1')).toBe('relay.example.com');
    expect(urlHost('http://[::1]:4000/v1')).toBe('[::1]');
    expect(urlHost('https://:8080/v1')).toBe('');
    expect(urlHost('https:///v1')).toBe('');
  });
  it('notices a base URL without a path', () => {
    for (const url of ['https://relay.example.com', 'https://relay.example.com/', 'http://127.0.0.1:8080//', 'https://x.y?a=1']) {
      expect(baseUrlHasNoPath(url)).toBe(true);
    }
    for (const url of ['https://relay.example.com/v1', 'https://x.openai.azure.com/openai/v1', 'https://x.y/api']) {
      expect(baseUrlHasNoPath(url)).toBe(false);
    }
  });
});

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
    ['https://', /host/],
    ['https://exa mple.com', /spaces/],
    ['http://127.0.0.1:99999/v1', /port .* from 1 to 65535/],
    ['http://[::1]:x/v1', /port/],
  ])('refuses %j', (url, msg) => expect(validateBaseUrl(url)).toMatch(msg));
});

describe('names and keys', () => {
  it('display name must not be blank unless optional', () => {
    expect(validateDisplayName('  ')).toMatch(/Enter/);
    expect(validateDisplayName('  ', false)).toBeNull();
    expect(validateDisplayName('Relay One')).toBeNull();
    expect(validateDisplayName('x'.repeat(201))).toBe('Keep the display name to 200 characters (it has 201)');
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

describe('withV1Path', () => {
  it('puts /v1 where the path goes, before a query or fragment', () => {
    expect(withV1Path('https://relay.example.com')).toBe('https://relay.example.com/v1');
    expect(withV1Path('https://relay.example.com/')).toBe('https://relay.example.com/v1');
    expect(withV1Path(' http://127.0.0.1:8080// ')).toBe('http://127.0.0.1:8080/v1');
    expect(withV1Path('https://relay.example.com:8443?x=1')).toBe('https://relay.example.com:8443/v1?x=1');
    expect(withV1Path('https://relay.example.com/?x=1#top')).toBe('https://relay.example.com/v1?x=1#top');
  });
});

describe('keys and usage tokens longer than the backend takes (a longer header fails every request)', () => {
  it('takes 4,096 characters and refuses 4,097, saying the limit and the length', () => {
    expect(SECRET_MAX).toBe(4096);
    const ok = 'k'.repeat(4096);
    expect(validateApiKey(ok)).toBeNull();
    expect(validateUsageToken(ok)).toBeNull();
    expect(validateApiKey(` ${ok} `)).toBeNull(); // trimmed first
    expect(validateApiKey(`${ok}x`)).toBe(
      'The key is too long: at most 4,096 characters (it has 4,097); check what was pasted',
    );
    expect(validateUsageToken('t'.repeat(10_000))).toBe(
      'The token is too long: at most 4,096 characters (it has 10,000); check what was pasted',
    );
  });
});
