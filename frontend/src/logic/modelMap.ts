// The provider dialog's model map: rows of requested model → provider model, "*" for any other. Pure.

import type { ModelMap } from '../types';
import { own, setOwn } from './own';

export const ANY_MODEL = '*';

// White space as JavaScript (\s) and the backend (Python's str.isspace) each know it, both: the file, the
// control API and this dialog refuse the same model names.
// eslint-disable-next-line no-control-regex
const SPACE = /[\s\u001c-\u001f\u0085]/;

export interface ModelMapRow {
  /** Stable key for React while rows are added and removed. */
  key: number;
  from: string;
  to: string;
}

export interface ModelMapErrors {
  [rowKey: number]: { from?: string; to?: string };
}

/** Rows in a readable order: named models first (as saved), the `*` row last. */
export function rowsFromMap(map: ModelMap | null | undefined, firstKey = 1): ModelMapRow[] {
  const entries = Object.entries(map ?? {});
  entries.sort(([a], [b]) => (a === ANY_MODEL ? 1 : 0) - (b === ANY_MODEL ? 1 : 0));
  return entries.map(([from, to], i) => ({ key: firstKey + i, from, to }));
}

/**
 * The map the rows describe, or errors per row. Empty rows are ignored; a requested model may
 * appear once; both sides are model names without spaces.
 */
export function mapFromRows(rows: readonly ModelMapRow[]): { map: ModelMap; errors: ModelMapErrors; ok: boolean } {
  const map: ModelMap = {};
  const errors: ModelMapErrors = {};
  const seen = new Set<string>();
  for (const row of rows) {
    const from = row.from.trim();
    const to = row.to.trim();
    if (!from && !to) continue;
    const e: { from?: string; to?: string } = {};
    if (!from) e.from = 'Enter the model Codex asks for, or * for any other';
    else if (SPACE.test(from)) e.from = 'No spaces in a model name';
    else if (seen.has(from)) e.from = `${from === ANY_MODEL ? 'The * row' : from} is mapped twice`;
    if (!to) e.to = 'Enter the model this provider uses';
    else if (SPACE.test(to)) e.to = 'No spaces in a model name';
    if (e.from || e.to) errors[row.key] = e;
    else setOwn(map, from, to);
    if (from) seen.add(from);
  }
  return { map, errors, ok: Object.keys(errors).length === 0 };
}

export function sameMap(a: ModelMap | null | undefined, b: ModelMap | null | undefined): boolean {
  const x = Object.entries(a ?? {});
  const y = b ?? {};
  return x.length === Object.keys(y).length && x.every(([k, v]) => own(y, k) === v);
}

/** "gpt-5.5 → openai/gpt-5.5, * → gpt-5.5" for a tooltip. */
export function describeMap(map: ModelMap | null | undefined): string {
  return rowsFromMap(map)
    .map((r) => `${r.from === ANY_MODEL ? 'any other' : r.from} → ${r.to}`)
    .join(', ');
}
