import { describe, expect, it } from 'vitest';
import { describeMap, mapFromRows, rowsFromMap, sameMap } from './modelMap';
import { stepLabel, testBadges } from './providerTest';
import { PROVIDER_TEMPLATES, templateById, urlPlaceholder } from './templates';
import type { ProviderTest } from '../types';

const test = (over: Partial<ProviderTest> = {}): ProviderTest => ({
  provider: 'p1',
  unix_ms: 1,
  ok: true,
  model: 'gpt-5.5',
  latency_ms: 820,
  first_event_ms: 310,
  streaming: true,
  tool_calls: true,
  models: ['a', 'b'],
  steps: [],
  error: '',
  ...over,
});

describe('model map rows', () => {
  it('round-trips a map, with * last', () => {
    const rows = rowsFromMap({ '*': 'gpt-5.5', 'gpt-5.5': 'openai/gpt-5.5' });
    expect(rows.map((r) => r.from)).toEqual(['gpt-5.5', '*']);
    expect(mapFromRows(rows)).toEqual({ map: { 'gpt-5.5': 'openai/gpt-5.5', '*': 'gpt-5.5' }, errors: {}, ok: true });
  });
  it('ignores empty rows and reports half-filled, duplicate or spaced ones', () => {
    const r = mapFromRows([
      { key: 1, from: ' ', to: '' },
      { key: 2, from: 'a', to: '' },
      { key: 3, from: '', to: 'b' },
      { key: 4, from: 'c', to: 'd' },
      { key: 5, from: 'c', to: 'e' },
      { key: 6, from: 'x y', to: 'z' },
    ]);
    expect(r.ok).toBe(false);
    expect(Object.keys(r.errors).map(Number)).toEqual([2, 3, 5, 6]);
    expect(r.errors[5].from).toBe('c is mapped twice');
    expect(r.map).toEqual({ c: 'd' });
  });
  it('refuses a model name with white space as the backend knows it too (one rule for the file and the dialog)', () => {
    for (const name of ['gpt\ufeff5', 'a\u001cb', 'a\u0085b', 'a\u3000b', 'a\tb']) {
      expect(mapFromRows([{ key: 1, from: 'gpt-5', to: name }]).ok).toBe(false);
    }
    expect(mapFromRows([{ key: 1, from: 'gpt-5', to: 'openai/gpt-5' }]).ok).toBe(true);
  });
  it('compares and describes maps', () => {
    expect(sameMap({ a: 'b' }, { a: 'b' })).toBe(true);
    expect(sameMap({ a: 'b' }, { a: 'c' })).toBe(false);
    expect(sameMap({}, null)).toBe(true);
    expect(describeMap({ '*': 'm', x: 'y' })).toBe('x → y, any other → m');
  });
});

describe('templates', () => {
  it('prefill the URL shape and the usage adapter', () => {
    expect(templateById('openai')).toMatchObject({ baseUrl: 'https://api.openai.com/v1', usageAdapter: 'openai_billing' });
    expect(templateById('azure').baseUrl).toBe('https://<resource>.openai.azure.com/openai/v1');
    expect(templateById('relay')).toMatchObject({ baseUrl: 'https://<host>/v1', usageAdapter: 'new_api' });
    expect(templateById('nope').id).toBe('generic');
    expect(PROVIDER_TEMPLATES.map((t) => t.id)).toEqual(['generic', 'openai', 'azure', 'relay']);
  });
  it('find placeholders left in a URL', () => {
    expect(urlPlaceholder('https://<resource>.openai.azure.com/openai/v1')).toBe('<resource>');
    expect(urlPlaceholder('https://my.openai.azure.com/openai/v1')).toBeNull();
  });
});

describe('testBadges', () => {
  it('says pass with latency, streaming, tools and models', () => {
    expect(testBadges(test()).map((b) => [b.text, b.tone])).toEqual([
      ['Test ✓ 820 ms', 'ok'],
      ['SSE ✓', 'ok'],
      ['Tools ✓', 'ok'],
      ['2 models', 'neutral'],
    ]);
  });
  it('says fail with the error, and "not judged" tools', () => {
    const b = testBadges(test({ ok: false, streaming: false, tool_calls: null, models: [], error: 'HTTP 401: bad key' }));
    expect(b.map((x) => x.text)).toEqual(['Test ✗', 'SSE ✗', 'Tools ?']);
    expect(b[0].title).toBe('Last test failed: HTTP 401: bad key');
    expect(b[2].title).toMatch(/not judged/);
  });
  it('nothing before the first test', () => {
    expect(testBadges(null)).toEqual([]);
    expect(stepLabel('stream')).toBe('Streamed response');
    expect(stepLabel('other')).toBe('other');
  });
});
