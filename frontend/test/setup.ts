import { cleanup } from '@testing-library/react';
import { afterEach } from 'vitest';

// jsdom has no canvas to measure text with (it would say "Not implemented" on every call): text
// widths fall back to an estimate from the length, as the charts' textWidth does without a canvas.
HTMLCanvasElement.prototype.getContext = (() => null) as typeof HTMLCanvasElement.prototype.getContext;

afterEach(() => {
  cleanup();
  sessionStorage.clear();
  window.location.hash = '';
});
