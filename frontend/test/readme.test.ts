// README.md names the UI's labels as the UI shows them.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CODEX_LABELS, codexButtonText } from '../src/features/shell/Header';
import { healthBadge } from '../src/logic/health';
import { stepLabel } from '../src/logic/providerTest';

// frontend/test/readme.test.ts → README.md, as a plain path (Vite rewrites `new URL(…, import.meta.url)`;
// file:///C:/… is C:/… on Windows).
const here = decodeURIComponent(import.meta.url.replace(/^file:\/\/(\/(?=[A-Za-z]:))?/, ''));
const readme = readFileSync(here.replace(/\/frontend\/test\/[^/]+$/, '/README.md'), 'utf8');
/** README prose, with its hard line breaks undone. */
const prose = readme.replace(/\s*\n\s*/g, ' ');

describe('README and the UI agree', () => {
  it('names the badge of a provider that did not answer in time as the UI shows it', () => {
    const label = healthBadge({ status: 'unresponsive', disabled: false }).label;
    expect(label).toBe('Unresponsive');
    expect(prose).toContain(`(badge *${label}* in the UI`);
  });

  it('quotes the Connect Codex button as it reads in each state', () => {
    expect(prose).toContain(
      `The button in the header shows where Codex stands: *${codexButtonText('connected')}*, *${codexButtonText('token_out_of_date')}*`,
    );
    expect(prose).toContain(`or *${codexButtonText('not_connected')}* (its tooltip and the dialog say the same)`);
    expect(codexButtonText('not_connected')).toContain(CODEX_LABELS.not_connected);
  });

  it('names the provider test steps as the control API sends them and the UI shows them', () => {
    const [stream, tool, models] = ['stream', 'tool', 'models'].map(stepLabel);
    expect(prose).toContain('`stream`, `tool`, `models` in the control API, shown as '
      + `*${stream}*, *${tool}* and *${models}*`);
  });
});
