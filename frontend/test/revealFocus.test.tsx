// A control focused while partly out of sight (under the window's bottom edge, a dialog's button bar or
// the sticky header) is scrolled wholly into view; one in sight is left where it is. WebKitGTK leaves a
// partly visible control where it is, so the app does it itself.

import { render } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { useRevealFocus } from '../src/features/shell/useRevealFocus';

function Page() {
  useRevealFocus();
  return (
    <main>
      <div data-testid="box" style={{ overflowY: 'auto' }}>
        <input aria-label="inside" />
      </div>
      <input aria-label="page" />
    </main>
  );
}

const rect = (top: number, bottom: number) => ({ top, bottom, left: 0, right: 100, height: bottom - top, width: 100 }) as DOMRect;

function place(el: Element, top: number, bottom: number) {
  el.getBoundingClientRect = () => rect(top, bottom);
}

beforeEach(() => {
  vi.stubGlobal('requestAnimationFrame', (cb: FrameRequestCallback) => {
    cb(0);
    return 1;
  });
  vi.stubGlobal('innerHeight', 480);
  document.documentElement.style.setProperty('--header-height', '87px');
  Element.prototype.scrollIntoView = vi.fn();
});

afterEach(() => {
  vi.unstubAllGlobals();
  document.documentElement.style.removeProperty('--header-height');
  delete (Element.prototype as { scrollIntoView?: unknown }).scrollIntoView;
});

describe('a focused control', () => {
  it('is scrolled into view when the window cuts it', () => {
    const { getByLabelText, getByTestId } = render(<Page />);
    place(getByTestId('box'), 0, 2000);
    const input = getByLabelText('page');
    place(input, 459, 485); // 5 px under the bottom edge
    input.focus();
    expect(input.scrollIntoView).toHaveBeenCalledWith({ block: 'nearest', inline: 'nearest' });
  });

  it('is scrolled into view when a box that scrolls it cuts it, or the header covers part of it', () => {
    const { getByLabelText, getByTestId } = render(<Page />);
    place(getByTestId('box'), 69, 404);
    const input = getByLabelText('inside');
    place(input, 380, 412); // under the dialog's button bar
    input.focus();
    expect(input.scrollIntoView).toHaveBeenCalledTimes(1);
    const page = getByLabelText('page');
    place(page, 80, 110); // under the header's bottom edge
    page.focus();
    expect(page.scrollIntoView).toHaveBeenCalledTimes(2);
  });

  it('is left where it is when it is wholly in view', () => {
    const { getByLabelText, getByTestId } = render(<Page />);
    place(getByTestId('box'), 69, 404);
    const input = getByLabelText('inside');
    place(input, 200, 230);
    input.focus();
    expect(input.scrollIntoView).not.toHaveBeenCalled();
  });
});
