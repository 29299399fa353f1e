// The probe toast counts its models in words, as the README's example writes it ("<name>: probe OK, 2 models in
// 123 ms"): one model is "1 model", and thousands are grouped.
import { describe, expect, it } from 'vitest';
import type { Probe } from '../src/types';
import { probeNotice } from '../src/logic/providerTest';

describe('probeNotice', () => {
  it('one model, many models', () => {
    const probe = (models: string[]) => ({ ok: true, status: 200, latency_ms: 80, models, error: '' }) as unknown as Probe;
    expect(probeNotice(probe(['m']), 'Relay One').title).toBe('Relay One: probe OK, 1 model in 80 ms');
    expect(probeNotice(probe(['a', 'b']), 'Relay One').title).toBe('Relay One: probe OK, 2 models in 80 ms');
    expect(probeNotice(probe(Array.from({ length: 1200 }, (_, i) => `m${i}`)), 'Relay One').title).toBe(
      'Relay One: probe OK, 1,200 models in 80 ms',
    );
  });
});
