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

/**
 * `npm run dev:fake`: the dev server answers /api/<method> from the in-memory fake backend the tests
 * use (test/fakeBackend.ts), so the UI can be worked on and looked at without a gateway. Token:
 * ao_first_token_1234.
 */
function fakeGateway(): Plugin {
  return {
    name: 'api-router:fake-gateway',
    apply: 'serve',
    configureServer(server) {
      let backend: { fetch: (url: string, init: RequestInit) => Promise<Response> } | null = null;
      server.middlewares.use((rawReq, res, next) => {
        // The Node request, typed by hand (no @types/node in this project).
        const req = rawReq as unknown as {
          method?: string;
          url?: string;
          headers: Record<string, string | string[] | undefined>;
          on(event: 'data', cb: (chunk: Uint8Array) => void): void;
          on(event: 'end', cb: () => void): void;
        };
        if (req.method !== 'POST' || !req.url?.startsWith('/api/')) return next();
        const url = req.url;
        const chunks: Uint8Array[] = [];
        req.on('data', (c) => chunks.push(c));
        req.on('end', async () => {
          try {
            if (!backend) {
              const mod = await server.ssrLoadModule('/test/fakeBackend.ts');
              backend = new mod.FakeBackend() as NonNullable<typeof backend>;
            }
            const body = new TextDecoder().decode(
              chunks.reduce((all, c) => {
                const out = new Uint8Array(all.length + c.length);
                out.set(all);
                out.set(c, all.length);
                return out;
              }, new Uint8Array()),
            );
            const reply = await backend.fetch(url, {
              method: 'POST',
              headers: { Authorization: String(req.headers.authorization ?? '') },
              body,
            });
            res.statusCode = reply.status;
            res.setHeader('Content-Type', 'application/json');
            res.end(await reply.text());
          } catch (e) {
            res.statusCode = 500;
            res.end(JSON.stringify({ error: { message: String(e), type: 'server_error' } }));
          }
        });
      });
    },
  };
}

export default defineConfig(({ mode }) => ({
  base: './',
  plugins: [react(), classicScriptForFileUrls(), ...(mode === 'fake' ? [fakeGateway()] : [])],
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
    proxy: mode === 'fake' ? undefined : { '/api': 'http://127.0.0.1:4000' },
    // The contract test reads ../docs/control-api.md; nothing else outside frontend/ is served.
    fs: { allow: ['.', '../docs'] },
  },
  test: {
    environment: 'jsdom',
    setupFiles: ['./test/setup.ts'],
    include: ['src/**/*.test.{ts,tsx}', 'test/**/*.test.{ts,tsx}'],
    restoreMocks: true,
  },
}));
