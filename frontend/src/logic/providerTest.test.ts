import { describe, expect, it } from 'vitest';
import { testBadges } from './providerTest';
import type { ProviderTest } from '../types';

const passed = (models: string[]): ProviderTest => ({
  provider: 'p1', unix_ms: 0, ok: true, model: 'gpt-5', latency_ms: 590, first_event_ms: 120,
  streaming: true, tool_calls: false, models, steps: [], error: '',
});

describe('testBadges', () => {
  it('counts the models the way the result strip does: one model, two models, none shown', () => {
    const models = (t: ProviderTest) => testBadges(t).find((b) => b.key === 'models');
    expect(models(passed(['gpt-5']))?.text).toBe('1 model');
    expect(models(passed(['gpt-5', 'gpt-5-mini']))).toMatchObject({ text: '2 models', title: 'gpt-5\ngpt-5-mini' });
    expect(models(passed([]))).toBeUndefined();
  });
});
