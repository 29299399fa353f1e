// "a name two providers share gets its id appended" — but a provider whose name is its own id is never
// shown as "p2 (p2)".
import { describe, expect, it } from 'vitest';
import { providerNames } from '../src/logic/names';

describe('providerNames when a display name equals another provider\'s id', () => {
  it('appends the id only to the provider whose name is not its id', () => {
    expect(providerNames({ p1: { display_name: 'p2' }, p2: { display_name: '' } })).toEqual({ p1: 'p2 (p1)', p2: 'p2' });
  });
});
