import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { createBridge } from './bridge';
import { hashForPath } from './logic/route';
import './styles.css';

// `/requests?provider=p1` (the server answers every page path with the app): the same page as its hash.
const pageHash = window.location.hash ? null : hashForPath(window.location.pathname, window.location.search);
if (pageHash !== null) window.history.replaceState(window.history.state, '', `/${pageHash}`);

const root = createRoot(document.getElementById('root')!);

void createBridge().then((bridge) =>
  root.render(
    <StrictMode>
      <App bridge={bridge} />
    </StrictMode>,
  ),
);
