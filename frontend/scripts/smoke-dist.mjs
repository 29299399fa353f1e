// Loads the built index.html from disk (file://) in jsdom, the way pywebview may load it, and checks
// that the relative assets load and the app starts: once with a fake window.pywebview.api that
// arrives with `pywebviewready`, once without (browser mode → token prompt).
// Run after `npm run build`:  node scripts/smoke-dist.mjs
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { JSDOM, VirtualConsole } from 'jsdom';

const here = dirname(fileURLToPath(import.meta.url));
const indexPath = resolve(here, '../../backend/api_router/web/index.html');
const html = readFileSync(indexPath, 'utf8');

const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]).filter((u) => !u.startsWith('data:'));
for (const ref of refs) {
  if (!ref.startsWith('./')) throw new Error(`asset path is not relative: ${ref}`);
}
if (/type="module"|crossorigin/.test(html)) throw new Error('index.html still uses module scripts or crossorigin');

const now = 1_764_000_000_000;
const status = {
  version: '0.1.0', listen: { host: '127.0.0.1', port: 4000 }, gateway_url: 'http://127.0.0.1:4000/v1',
  provider_order: ['p1'], preferred_provider: 'p1', manual_override: null, active_provider: null, active_reason: '',
  routing: { preferred_provider: 'p1', auto_return_to_preferred: true, preferred_stable_seconds: 30, failure_threshold: 2,
    cooldown_seconds: 30, request_timeout_seconds: 60, stream_idle_timeout_seconds: 300 },
  providers: { p1: { display_name: 'Relay One', base_url: 'https://relay.example.com/v1', disabled: false, has_key: true,
    key_preview: 'sk-a…9f2c', usage_adapter: '', usage_base_url: '', status: 'healthy', consecutive_failures: 0,
    cooldown_until_unix_ms: null, last_error: '', last_ok_at_unix_ms: now, last_fail_at_unix_ms: null } },
  metrics: {}, recent_events: [], unseen_events: 0, quota: {}, ledgers: {}, last_activity_unix_ms: null, now_unix_ms: now,
};

async function load(withPywebview) {
  const errors = [];
  const virtualConsole = new VirtualConsole();
  virtualConsole.on('jsdomError', (e) => errors.push(e.message));
  virtualConsole.on('error', (e) => errors.push(String(e)));
  const dom = new JSDOM(html, {
    url: pathToFileURL(indexPath).href,
    runScripts: 'dangerously',
    resources: 'usable',
    pretendToBeVisual: true,
    virtualConsole,
    beforeParse(window) {
      window.matchMedia = () => ({ matches: false, addEventListener() {}, removeEventListener() {} });
      if (withPywebview) {
        // pywebview injects its API a little after the page starts, then fires pywebviewready.
        setTimeout(() => {
          window.pywebview = { api: {
            get_status: async () => status,
            get_gateway_token: async () => ({ token: 'ao_smoke_token_0000' }),
          } };
          window.dispatchEvent(new window.Event('pywebviewready'));
        }, 200);
      }
    },
  });
  const want = withPywebview ? '[data-testid="provider-row-p1"]' : '#gate-token';
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline && !dom.window.document.querySelector(want)) await new Promise((r) => setTimeout(r, 50));
  const ok = !!dom.window.document.querySelector(want);
  const styled = [...dom.window.document.styleSheets].some((s) => s.cssRules.length > 10);
  dom.window.close();
  if (!ok) throw new Error(`${withPywebview ? 'desktop' : 'browser'} start failed: ${want} never appeared; ${errors.join('; ')}`);
  if (!styled) throw new Error('stylesheet did not load');
  console.log(`ok: ${withPywebview ? 'desktop (pywebviewready)' : 'browser (token prompt)'} from ${pathToFileURL(indexPath).href}`);
}

await load(true);
await load(false);
