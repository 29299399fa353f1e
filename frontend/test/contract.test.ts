// types.ts (ControlMethods) names exactly the methods docs/control-api.md documents, and the fake
// backend answers each of them.

import { describe, expect, it } from 'vitest';
import docs from '../../docs/control-api.md?raw';
import types from '../src/types.ts?raw';
import { METHODS } from './fakeBackend';

function documented(): string[] {
  const names = new Set<string>();
  for (const line of docs.split('\n')) {
    if (!line.startsWith('### ')) continue;
    for (const m of line.matchAll(/`([a-z_]+)\(/g)) names.add(m[1]);
  }
  return [...names].sort();
}

function typed(): string[] {
  const block = types.slice(types.indexOf('export interface ControlMethods {'));
  const body = block.slice(0, block.indexOf('\n}\n'));
  return [...body.matchAll(/^ {2}([a-z_]+): \{ args:/gm)].map((m) => m[1]).sort();
}

/** In the Python registry and typed here, but not (yet) in docs/control-api.md. */
const UNDOCUMENTED = ['get_diagnostics'];

describe('the control API contract', () => {
  it('types.ts has exactly the documented methods (plus get_diagnostics)', () => {
    expect(documented().length).toBeGreaterThan(30);
    expect(typed()).toEqual([...new Set([...documented(), ...UNDOCUMENTED])].sort());
  });
  it('the fake backend implements every typed method', () => {
    expect([...METHODS].sort()).toEqual(typed());
  });
});
