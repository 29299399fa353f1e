import { describe, expect, it } from 'vitest';
import { chosenProviderGone, providerOptionLabel, withChosenProvider } from './providerChoice';

const names: Record<string, string> = { p1: 'Relay One', all: 'Everything' };
const nameOf = (id: string) => names[id] ?? id;

describe('a drop-down that chooses a provider', () => {
  it('says a chosen id no provider has now is gone; not its own choices, not while the list loads', () => {
    expect(chosenProviderGone('p2', ['p1'])).toBe(true);
    expect(chosenProviderGone('p1', ['p1'])).toBe(false);
    expect(chosenProviderGone('all', ['all', 'p1'])).toBe(false);
    expect(chosenProviderGone(null, ['p1'])).toBe(false); // "All providers", "Gateway"
    expect(chosenProviderGone('p2', null)).toBe(false); // the provider list has not arrived yet
    expect(chosenProviderGone(null, null)).toBe(false);
  });

  it('says so when the chosen provider was the last one: no provider is configured now', () => {
    expect(chosenProviderGone('p1', [])).toBe(true);
    expect(chosenProviderGone('ghost', [])).toBe(true);
    expect(chosenProviderGone(null, [])).toBe(false);
  });

  it('keeps the chosen id among the options, after the others, so the drop-down shows what filters', () => {
    expect(withChosenProvider(['p1'], 'p2')).toEqual(['p1', 'p2']);
    expect(withChosenProvider(['p1', 'p2'], 'p2')).toEqual(['p1', 'p2']);
    expect(withChosenProvider(['p1'], null)).toEqual(['p1']);
  });

  it('names a configured provider, and marks an id no provider has now', () => {
    expect(providerOptionLabel('p1', ['p1'], nameOf)).toBe('Relay One');
    expect(providerOptionLabel('all', ['p1', 'all'], nameOf)).toBe('Everything');
    expect(providerOptionLabel('p2', ['p1'], nameOf)).toBe('p2 (not configured)');
    expect(providerOptionLabel('p1', [], nameOf)).toBe('Relay One (not configured)'); // no provider at all
    expect(providerOptionLabel('p2', null, nameOf)).toBe('p2'); // the provider list has not arrived yet
  });
});
