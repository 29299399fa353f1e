import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { createBridge } from './bridge';
import './styles.css';

const root = createRoot(document.getElementById('root')!);

void createBridge().then((bridge) =>
  root.render(
    <StrictMode>
      <App bridge={bridge} />
    </StrictMode>,
  ),
);
