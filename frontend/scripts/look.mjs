// Development aid: screenshots of the UI at several widths (npm run dev:fake first, or any gateway).
//   node scripts/look.mjs http://127.0.0.1:5199/ ao_first_token_1234 /tmp/shots [hash...]
import { chromium } from 'playwright-core';

const [base = 'http://127.0.0.1:5199/', token = 'ao_first_token_1234', out = '/tmp/shots', ...hashes] = process.argv.slice(2);
const pages = hashes.length ? hashes : ['#/', '#/requests', '#/usage'];
const browser = await chromium.launch({ executablePath: process.env.API_ROUTER_CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'] });
for (const width of [720, 1000, 1180, 1400]) {
  for (const scheme of ['light', 'dark']) {
    const context = await browser.newContext({ viewport: { width, height: 800 }, colorScheme: scheme });
    await context.addInitScript((t) => sessionStorage.setItem('api-router.gateway-token', t), token);
    const page = await context.newPage();
    page.on('pageerror', (e) => console.log('pageerror', e.message));
    for (const hash of pages) {
      await page.goto(base + hash);
      await page.waitForTimeout(1500);
      const m = await page.evaluate(() => ({ sw: document.documentElement.scrollWidth, iw: innerWidth, sh: document.documentElement.scrollHeight }));
      const name = `${hash.replace(/[^a-z]/g, '') || 'dashboard'}-${width}-${scheme}.png`;
      await page.screenshot({ path: `${out}/${name}`, fullPage: true });
      console.log(name, JSON.stringify(m), m.sw > m.iw ? 'HORIZONTAL SCROLL' : '');
    }
    await context.close();
  }
}
await browser.close();
