import { describe, expect, it } from 'vitest';
import {
  splitBaseUrl,
  formatClock,
  formatCount,
  formatCountdown,
  formatLatency,
  maskSecret,
  maskedAuthJson,
  truncate,
  fitText,
} from './format';

describe('formatCount', () => {
  it.each([
    [0, '0'],
    [950, '950'],
    [999, '999'],
    [1000, '1k'],
    [1234, '1.2k'],
    [12345, '12.3k'],
    [123456, '123k'],
    [999_960, '1M'],
    [1_250_000, '1.3M'],
    [2_500_000, '2.5M'],
    [3_200_000_000, '3.2B'],
    [-12345, '-12.3k'],
  ])('%d → %s', (n, s) => expect(formatCount(n)).toBe(s));

  it('shows a dash for missing values', () => {
    expect(formatCount(null)).toBe('—');
    expect(formatCount(undefined)).toBe('—');
    expect(formatCount(Number.NaN)).toBe('—');
  });
});

describe('durations', () => {
  it.each([
    [27_000, '0:27'],
    [26_001, '0:27'],
    [1, '0:01'],
    [0, '0:00'],
    [-10, '0:00'],
    [723_000, '12:03'],
    [3_723_000, '1:02:03'],
  ])('formatCountdown(%d) = %s', (ms, s) => expect(formatCountdown(ms)).toBe(s));


  it('formatLatency', () => {
    expect(formatLatency(123.4)).toBe('123 ms');
    expect(formatLatency(1234)).toBe('1.23 s');
    expect(formatLatency(12_500)).toBe('12.5 s');
    expect(formatLatency(null)).toBe('—');
  });

  it('formatClock pads local time', () => {
    const d = new Date(2025, 0, 2, 3, 4, 5);
    expect(formatClock(d.getTime())).toBe('03:04:05');
  });
});

describe('maskSecret', () => {
  it('keeps the prefix and the last four characters', () => {
    expect(maskSecret('ao_abcdefghijklmnop1234')).toBe('ao_••••••••1234');
    expect(maskSecret('sk-abcdefghijklmnop')).toBe('••••••••mnop');
  });
  it('reveals nothing of short secrets', () => {
    expect(maskSecret('ao_short')).toBe('ao_••••••••');
    expect(maskSecret('abc')).toBe('••••••••');
  });
  it('never contains the middle of the secret', () => {
    const masked = maskSecret('ao_SECRETMIDDLEPART_zz99');
    expect(masked).not.toContain('SECRET');
    expect(masked).not.toContain('MIDDLE');
  });
  it('is empty for no secret', () => {
    expect(maskSecret(null)).toBe('');
    expect(maskSecret('')).toBe('');
  });
});

describe('truncate', () => {
  it('keeps short text and cuts long text with an ellipsis', () => {
    expect(truncate('short', 10)).toBe('short');
    expect(truncate('0123456789abc', 10)).toBe('012345678…');
    expect(truncate('0123456789abc', 10)).toHaveLength(10);
  });
  it('collapses whitespace and line breaks', () => {
    expect(truncate('a\n  b\tc', 20)).toBe('a b c');
  });
  it('handles empty values', () => {
    expect(truncate('', 5)).toBe('');
    expect(truncate(null, 5)).toBe('');
  });
});

describe('fitText', () => {
  const mono = (s: string) => s.length * 6; // every character 6 px wide
  it('keeps text that fits, whitespace collapsed', () => {
    expect(fitText('Relay One', 54, mono)).toBe('Relay One');
    expect(fitText(' Relay\n One ', 54, mono)).toBe('Relay One');
  });
  it('cuts text that does not fit with "…", to the longest start that fits', () => {
    const name = 'Relay Two, Azure East US production deployment (backup 3)';
    const out = fitText(name, 100, mono);
    expect(out).toBe('Relay Two, Azur…'); // 16 characters of 6 px
    expect(mono(out)).toBeLessThanOrEqual(100);
    expect(mono(fitText(name, 100 + 6, mono))).toBeGreaterThan(100 - 6);
  });
  it('drops the space before the ellipsis', () => {
    expect(fitText('Relay One Two', 42, mono)).toBe('Relay…');
  });
  it('measures with the given function (wide letters take more room)', () => {
    const wideW = (s: string) => [...s].reduce((w, c) => w + (c === 'W' ? 12 : 6), 0);
    expect(fitText('WWWWWWWWWW', 60, wideW)).toBe('WWWW…');
  });
  it('never cuts an emoji in half, and gives up when not even "…" fits', () => {
    expect(fitText('😀😀😀😀😀😀', 20, (s) => Array.from(s).length * 6)).toBe('😀😀…');
    expect(fitText('Relay One', 3, mono)).toBe('');
    expect(fitText('Relay One', 6, mono)).toBe('…');
  });
});

describe('maskedAuthJson', () => {
  it('masks the token the way the dashboard does and keeps the file shape', () => {
    const shown = maskedAuthJson('{\n  "OPENAI_API_KEY": "ao_0123456789abcdef0123456789abcdef"\n}\n');
    expect(shown).toBe('{\n  "OPENAI_API_KEY": "ao_••••••••cdef"\n}\n');
  });
  it('shows text that is not such a file as it is', () => {
    expect(maskedAuthJson('not json')).toBe('not json');
    expect(maskedAuthJson('[1]')).toBe('[1]');
  });
});

describe('splitBaseUrl', () => {
  it('parts a URL into scheme, host and port (shown whole) and the rest (which may be cut)', () => {
    const long = 'https://relay-gateway-eu-west-1.internal-proxy.some-long-company-domain.example.com:8443/openai/deployments/v1';
    expect(splitBaseUrl(long)).toEqual({
      origin: 'https://relay-gateway-eu-west-1.internal-proxy.some-long-company-domain.example.com:8443',
      path: '/openai/deployments/v1',
    });
    expect(splitBaseUrl('http://127.0.0.1:9000?key=1#x')).toEqual({ origin: 'http://127.0.0.1:9000', path: '?key=1#x' });
    expect(splitBaseUrl('https://relay.example.com')).toEqual({ origin: 'https://relay.example.com', path: '' });
  });
  it('keeps the text as written (no URL parser rewriting case, ports or escapes)', () => {
    expect(splitBaseUrl('HTTPS://Relay.Example.com:443/V1/')).toEqual({ origin: 'HTTPS://Relay.Example.com:443', path: '/V1/' });
    expect(splitBaseUrl('http://[::1]:8080/v1')).toEqual({ origin: 'http://[::1]:8080', path: '/v1' });
  });
  it('reads text with no scheme as all path (nothing to keep whole)', () => {
    expect(splitBaseUrl('relay.example.com/v1')).toEqual({ origin: '', path: 'relay.example.com/v1' });
    expect(splitBaseUrl('')).toEqual({ origin: '', path: '' });
  });
});
