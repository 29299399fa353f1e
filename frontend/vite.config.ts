import { defineConfig, type Plugin } from 'vitest/config';
import react from '@vitejs/plugin-react';

/**
 * pywebview may load index.html straight from disk (file://). Chromium-based engines (WebView2)
 * refuse ES-module scripts and `crossorigin` resources from a file:// page ("origin null"), so the
 * production bundle is a single classic IIFE script loaded with `defer`, and no `crossorigin`
 * attributes are emitted. Served over http by the gateway the same files work unchanged.
 */
function classicScriptForFileUrls(): Plugin {
  return {
    name: 'api-router:classic-script',
    apply: 'build',
    enforce: 'post',
    transformIndexHtml(html) {
      return html
        .replace(/<script type="module" crossorigin /g, '<script defer ')
        .replace(/<script type="module" /g, '<script defer ')
        .replace(/ crossorigin(?=[\s>])/g, '');
    },
  };
}

export default defineConfig({
  base: './',
  plugins: [react(), classicScriptForFileUrls()],
  build: {
    outDir: '../backend/api_router/web',
    emptyOutDir: true,
    modulePreload: false,
    cssCodeSplit: false,
    target: ['chrome100', 'safari15', 'edge100'],
    // One classic script cannot be code-split, so the charts (recharts, ~430 kB minified) ship in
    // the same file as everything else: ~700 kB / ~210 kB gzip, loaded from disk or localhost.
    chunkSizeWarningLimit: 900,
    rolldownOptions: {
      output: { format: 'iife' },
    },
  },
  server: {
    // `npm run dev` talks to a running gateway (python3 tasks.py run) for /api calls.
    proxy: { '/api': 'http://127.0.0.1:4000' },
  },
  test: {
    environment: 'jsdom',
    setupFiles: ['./test/setup.ts'],
    include: ['src/**/*.test.{ts,tsx}', 'test/**/*.test.{ts,tsx}'],
    restoreMocks: true,
  },
});
