// A control focused while partly out of sight (under the window's bottom edge, a dialog's button bar or
// the sticky header) is scrolled wholly into view; one in sight is left where it is. WebKitGTK leaves a
// partly visible control where it is, so the app does it itself. So is a provider's reorder handle
// that keeps the focus while its row moves (keyboard reordering).

import { fireEvent, render, screen, waitFor } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi, type Mock } from 'vitest';
import { useRevealFocus } from '../src/features/shell/useRevealFocus';
import { desktopApp } from './desktopApp';
import type { FakeBackend } from './fakeBackend';

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

describe('a provider moved with the arrow keys', () => {
  /** The elements scrollIntoView was called on (jsdom has no layout: where each one is, is set by hand). */
  const revealed = () => (Element.prototype.scrollIntoView as Mock).mock.contexts;

  async function appWithHeader() {
    const app = await desktopApp();
    document.documentElement.style.setProperty('--header-height', '87px'); // jsdom measured 0
    return app;
  }

  it('keeps its focused handle in view when the row lands under the sticky header', async () => {
    const { backend } = await appWithHeader();
    const handle = screen.getByRole('button', { name: 'Reorder Relay Two' });
    place(handle, 200, 228);
    handle.focus();
    expect(revealed()).toEqual([]);

    place(handle, 40, 68); // moved up past the row above it: under the header
    fireEvent.keyDown(handle, { key: 'ArrowUp' });
    expect(document.activeElement).toBe(handle);
    expect(revealed()).toEqual([handle]);
    expect(handle.scrollIntoView).toHaveBeenCalledWith({ block: 'nearest', inline: 'nearest' });
    await waitFor(() => expect(backend.state.provider_order).toEqual(['p2', 'p1', 'p3', 'p4']));
  });

  it('shows the handle again when the status read after the save moves it, and not after that', async () => {
    const { backend } = await appWithHeader();
    const handle = screen.getByRole('button', { name: 'Reorder Relay One' });
    place(handle, 400, 428);
    handle.focus();

    fireEvent.keyDown(handle, { key: 'ArrowDown' });
    expect(document.activeElement).toBe(handle);
    expect(revealed()).toEqual([]); // still wholly in view at its new place
    place(handle, 470, 498); // the saved order's status resizes the cards above: 18 px under the bottom edge
    await waitFor(() => expect(lastCall(backend, 'set_provider_order')?.args).toEqual({ order: ['p2', 'p1', 'p3', 'p4'] }));
    await waitFor(() => expect(revealed()).toEqual([handle]));
    expect(document.activeElement).toBe(handle);

    // Once the move is saved and shown, the page is not scrolled back to the handle when it is scrolled away.
    place(handle, 600, 628);
    fireEvent.click(screen.getByRole('button', { name: 'Disable Relay Three' }));
    await waitFor(() => expect(screen.getByRole('button', { name: 'Enable Relay Three' })).toBeTruthy());
    expect(revealed()).toEqual([handle]);
  });
});

const lastCall = (b: FakeBackend, method: string) => [...b.calls].reverse().find((c) => c.method === method);
