// Pure formatting helpers. No React, no DOM.

/**
 * 950 → "950", 12345 → "12.3k", 1_250_000 → "1.3M", 3.2e9 → "3.2B", 1.9e12 → "1.9T". T is the
 * largest unit: beyond it the thousands of T are grouped (9e15 → "9,000T"), never a bare "9000000B".
 */
export function formatCount(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—';
  const sign = n < 0 ? '-' : '';
  const a = Math.abs(n);
  if (a < 1000) return sign + String(Math.round(a));
  const units: [number, string][] = [
    [1e3, 'k'],
    [1e6, 'M'],
    [1e9, 'B'],
    [1e12, 'T'],
  ];
  let i = 0;
  while (i < units.length - 1 && a >= units[i + 1][0]) i += 1;
  let text = compactNumber(a / units[i][0]);
  // 999_960 would read "1000k": promote to the next unit.
  if (Number(text) >= 1000 && i < units.length - 1) {
    i += 1;
    text = compactNumber(a / units[i][0]);
  }
  return sign + (Number(text) >= 1000 ? groupThousands(text) : text) + units[i][1];
}

function compactNumber(v: number): string {
  return (v >= 100 ? v.toFixed(0) : v.toFixed(1)).replace(/\.0$/, '');
}

/** Milliseconds → "850 ms", "1.2 s". */
export function formatLatency(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  if (Math.round(ms) < 1000) return `${Math.round(ms)} ms`; // 999.7 ms reads "1 s", as 1,000 ms does
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1).replace(/\.?0+$/, '')} s`;
}

/** Time left → "0:27", "12:03", "1:02:03". Rounds up so "0:00" only shows once it is over. */
export function formatCountdown(msLeft: number): string {
  const total = Math.max(0, Math.ceil(msLeft / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return h > 0 ? `${h}:${pad2(m)}:${pad2(s)}` : `${m}:${pad2(s)}`;
}

/** Local wall-clock time "14:03:09". */
export function formatClock(unixMs: number): string {
  const d = new Date(unixMs);
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/**
 * The local day of `unixMs` when it is not the day of `nowMs`: "Dec 2" (this year), "Dec 30 2025"
 * (another year); null on the same day, so today's rows stay compact.
 */
export function dayLabel(unixMs: number, nowMs: number): string | null {
  const d = new Date(unixMs);
  const n = new Date(nowMs);
  if (d.getFullYear() === n.getFullYear() && d.getMonth() === n.getMonth() && d.getDate() === n.getDate()) return null;
  const md = `${MONTHS[d.getMonth()]} ${d.getDate()}`;
  return d.getFullYear() === n.getFullYear() ? md : `${md} ${d.getFullYear()}`;
}

/** A log row's time: "14:03:09" today (by `nowMs`), "Dec 2 14:03:09" another day. Local time. */
export function formatRowTime(unixMs: number, nowMs: number): string {
  const day = dayLabel(unixMs, nowMs);
  return day === null ? formatClock(unixMs) : `${day} ${formatClock(unixMs)}`;
}

/** Local date and time "2025-11-24 14:03:09", for tooltips. */
export function formatDateTime(unixMs: number): string {
  const d = new Date(unixMs);
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${formatClock(unixMs)}`;
}

/** Masks a secret, keeping a recognisable prefix and the last 4 characters: "ao_••••••••9f2c". */
export function maskSecret(secret: string | null | undefined): string {
  if (!secret) return '';
  const underscore = secret.indexOf('_');
  const prefix = underscore > 0 && underscore <= 4 ? secret.slice(0, underscore + 1) : '';
  const tailLen = secret.length - prefix.length > 8 ? 4 : 0;
  const tail = tailLen ? secret.slice(-tailLen) : '';
  return `${prefix}${'•'.repeat(8)}${tail}`;
}

/**
 * auth.json as shown: the gateway token in it masked as everywhere else on screen (the copy button
 * copies the real file). Text that is not such a file is shown as it is.
 */
export function maskedAuthJson(authJson: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(authJson);
  } catch {
    return authJson;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return authJson;
  const masked = Object.fromEntries(
    Object.entries(parsed).map(([k, v]) => [k, typeof v === 'string' ? maskSecret(v) : v]),
  );
  return `${JSON.stringify(masked, null, 2)}\n`;
}

/** Single-line, at most `max` characters, with an ellipsis when cut. */
export function truncate(text: string | null | undefined, max: number): string {
  if (!text) return '';
  const one = text.replace(/\s+/g, ' ').trim();
  if (one.length <= max) return one;
  return one.slice(0, Math.max(0, max - 1)).trimEnd() + '…';
}

/**
 * `text` on one line, no wider than `maxWidth` as `measure` measures it (e.g. pixels in a font): whole
 * when it fits, else the longest start of it that fits with "…" after it ("" when not even "…" fits).
 */
export function fitText(text: string, maxWidth: number, measure: (s: string) => number): string {
  const one = text.replace(/\s+/g, ' ').trim();
  if (measure(one) <= maxWidth) return one;
  const chars = Array.from(one); // code points: an emoji is never cut in half
  const cut = (n: number) => chars.slice(0, n).join('').trimEnd() + '…';
  if (measure('…') > maxWidth) return '';
  let lo = 0; // the longest start known to fit
  let hi = chars.length - 1;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (measure(cut(mid)) <= maxWidth) lo = mid;
    else hi = mid - 1;
  }
  return cut(lo);
}

/** Two digits: 7 → "07". */
export function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** Thousands separators in a number's digits: "33000.5" → "33,000.5". */
export function groupThousands(digits: string): string {
  const [int, frac] = digits.split('.');
  const grouped = int.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return frac === undefined ? grouped : `${grouped}.${frac}`;
}

/** A count and its noun, plural unless one: "1 request", "1,234 requests". */
export function countNoun(n: number, noun: string): string {
  return `${n.toLocaleString('en-US')} ${noun}${n === 1 ? '' : 's'}`;
}

/**
 * A URL as written, parted into its scheme, host and port (`origin`) and all after them (`path`, with
 * any query): the provider table shows the origin whole and may cut the path. Text, not `new URL()`,
 * which would rewrite it (case, a default port, escapes). Text with no `scheme://` is all path.
 */
export function splitBaseUrl(url: string): { origin: string; path: string } {
  const m = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/.exec(url);
  return m ? { origin: m[0], path: url.slice(m[0].length) } : { origin: '', path: url };
}
