// The sticky header never hides the focused control: the shell keeps --header-height on <html> equal
// to the header's height, and the stylesheet pads the page's scrolling by it (the browser tests check
// Shift+Tab at 720 and 1024 px: frontend/e2e/dashboard.e2e.mjs).

import { render } from '@testing-library/react';
import { readFileSync } from 'node:fs';
import { useRef } from 'react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { useStickyHeaderPadding } from '../src/features/shell/useStickyHeaderPadding';
import { desktopApp } from './desktopApp';

const here = decodeURIComponent(import.meta.url.replace(/^file:\/\/(\/(?=[A-Za-z]:))?/, ''));
const css = readFileSync(here.replace(/\/test\/[^/]+$/, '/src/styles.css'), 'utf8');
const headerHeight = () => document.documentElement.style.getPropertyValue('--header-height');

function Page({ height }: { height: { px: number } }) {
  const ref = useRef<HTMLElement>(null);
  useStickyHeaderPadding(ref);
  return (
    <header
      ref={(el) => {
        ref.current = el;
        if (el) el.getBoundingClientRect = () => ({ height: height.px }) as DOMRect;
      }}
    />
  );
}

afterEach(() => vi.unstubAllGlobals());

describe('the sticky header', () => {
  it('pads scrolling at the top by its measured height', () => {
    expect(css).toMatch(/\nhtml \{\s*scroll-padding-top:\s*calc\(var\(--header-height, \d+px\) \+ \d+px\);/);
  });

  it('follows the header as it wraps and unwraps, and lets go when unmounted', () => {
    const observers: ResizeObserverCallback[] = [];
    vi.stubGlobal(
      'ResizeObserver',
      class {
        constructor(cb: ResizeObserverCallback) {
          observers.push(cb);
        }
        observe() {}
        disconnect() {}
      },
    );
    const height = { px: 45 };
    const { unmount } = render(<Page height={height} />);
    expect(headerHeight()).toBe('45px');
    height.px = 86.4; // two rows
    observers[0]([], {} as ResizeObserver);
    expect(headerHeight()).toBe('87px');
    unmount();
    expect(headerHeight()).toBe('');
  });

  it('is measured by the app shell', async () => {
    await desktopApp();
    expect(headerHeight()).toMatch(/^\d+px$/);
  });
});
