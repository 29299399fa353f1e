// Vite's `?raw` imports (file contents as a string), used by the contract test.
declare module '*?raw' {
  const text: string;
  export default text;
}

// The one Node API tests use (this project has no @types/node): readme.test.ts reads ../README.md
// (outside what Vite serves) and styles.test.ts reads src/styles.css (Vitest empties CSS imports).
declare module 'node:fs' {
  export function readFileSync(path: string, encoding: 'utf8'): string;
}
