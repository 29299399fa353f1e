// The app in the desktop window's mode over a fake backend, as the component tests drive it.

import { render, screen } from '@testing-library/react';
import { App } from '../src/App';
import { createDesktopBridge } from '../src/bridge';
import { FakeBackend } from './fakeBackend';

/**
 * Renders the app over `backend` and waits for its first status. The poll interval is long by default:
 * actions refresh the status themselves, so nothing a test does races a poll unless it asks for one.
 */
export async function desktopApp(backend = new FakeBackend(), pollIntervalMs = 60_000) {
  const bridge = createDesktopBridge(backend.pywebviewApi());
  render(<App bridge={bridge} pollIntervalMs={pollIntervalMs} />);
  await screen.findByTestId('provider-row-p1');
  return { backend, bridge };
}
