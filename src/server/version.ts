import { readFileSync } from 'node:fs';

/**
 * tokenhub's version, from its package.json: `src/server/` and `dist/server/` are both two levels
 * below the package root. `unknown` if the file cannot be read (a bundler that left it behind).
 */
export const VERSION: string = (() => {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
})();
