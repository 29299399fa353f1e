// A provider test (test_provider) → what the row's badges and the result strip say. Pure.

import type { Probe, ProviderTest } from '../types';
import { countNoun, formatLatency } from './format';
import type { Tone } from './health';
import { own } from './own';

export interface TestBadge {
  key: 'result' | 'streaming' | 'tools' | 'models';
  text: string;
  tone: Tone;
  title: string;
}

/** "yes" / "no" / "not judged" for a capability the test checks. */
function capability(v: boolean | null | undefined): { mark: string; tone: Tone; word: string } {
  if (v === true) return { mark: '✓', tone: 'ok', word: 'yes' };
  if (v === false) return { mark: '✗', tone: 'bad', word: 'no' };
  return { mark: '?', tone: 'neutral', word: 'not judged' };
}

/** The last test as small badges for the provider row: pass/fail with latency, streaming, tool calls, models. */
export function testBadges(t: ProviderTest | null | undefined): TestBadge[] {
  if (!t) return [];
  const out: TestBadge[] = [
    {
      key: 'result',
      text: t.ok ? `Test ✓ ${formatLatency(t.latency_ms)}` : 'Test ✗',
      tone: t.ok ? 'ok' : 'bad',
      title: t.ok
        ? `Last test passed: ${formatLatency(t.latency_ms)} in all, first event after ${formatLatency(t.first_event_ms)} (model ${t.model})`
        : `Last test failed: ${t.error || 'see the test result'}`,
    },
  ];
  const s = capability(t.streaming);
  out.push({ key: 'streaming', text: `SSE ${s.mark}`, tone: s.tone, title: `Streams through response.completed: ${s.word}` });
  const tools = capability(t.tool_calls);
  out.push({ key: 'tools', text: `Tools ${tools.mark}`, tone: tools.tone, title: `Answers a tool request with a function call: ${tools.word}` });
  if (t.models.length) {
    out.push({ key: 'models', text: countNoun(t.models.length, 'model'), tone: 'neutral', title: t.models.join('\n') });
  }
  return out;
}

/** Steps in the order run, with a readable name. */
const STEP_LABELS: Record<string, string> = {
  stream: 'Streamed response',
  tool: 'Tool call',
  models: 'Model list',
};

export function stepLabel(name: string): string {
  return own(STEP_LABELS, name) ?? name;
}

/** What a toast says of a finished test or probe (a screen reader hears it: the strip under the row is no live region). */
export interface ResultNotice {
  tone: 'success' | 'error';
  title: string;
  message?: string;
}

/** "Relay A: test passed in 412 ms" / "Relay C: test failed" with why. */
export function testNotice(t: ProviderTest, name: string): ResultNotice {
  if (t.ok) {
    const tools = capability(t.tool_calls).word;
    return {
      tone: 'success',
      title: `${name}: test passed in ${formatLatency(t.latency_ms)}`,
      message: `Tool calls: ${tools}${t.models.length ? ` · ${countNoun(t.models.length, 'model')}` : ''}`,
    };
  }
  const step = t.steps.find((s) => s.ok === false);
  const why = t.error || (step ? `${stepLabel(step.name)}${step.status !== null ? ` · HTTP ${step.status}` : ''}${step.error ? ` · ${step.error}` : ''}` : '');
  return { tone: 'error', title: `${name}: test failed`, ...(why ? { message: why } : {}) };
}

/** "Relay A: probe OK, 3 models in 80 ms" / "Relay B: probe failed" with why. */
export function probeNotice(p: Probe, name: string): ResultNotice {
  if (p.ok) {
    return { tone: 'success', title: `${name}: probe OK, ${countNoun(p.models.length, 'model')} in ${formatLatency(p.latency_ms)}` };
  }
  const why = p.error || (p.status !== null ? `HTTP ${p.status}` : '');
  return { tone: 'error', title: `${name}: probe failed`, ...(why ? { message: why } : {}) };
}
