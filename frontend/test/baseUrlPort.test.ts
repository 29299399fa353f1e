// README (Configuration): a base URL is refused with "a port outside 1–65535" — so 1 and 65535 themselves are taken.
import { describe, expect, it } from 'vitest';
import { validateBaseUrl } from '../src/logic/validate';

describe('base URL ports at the ends of 1–65535', () => {
  it.each(['http://127.0.0.1:1/v1', 'http://127.0.0.1:65535/v1', 'http://[::1]:1/v1'])('%s is valid', (url) =>
    expect(validateBaseUrl(url)).toBeNull(),
  );
  it.each(['http://127.0.0.1:0/v1', 'http://127.0.0.1:65536/v1', 'http://[::1]:0/v1'])('%s is refused', (url) =>
    expect(validateBaseUrl(url)).toMatch(/from 1 to 65535/),
  );
});
