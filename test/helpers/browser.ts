import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/**
 * The Chromium of the system's packages (Debian's `chromium`), never a browser downloaded by
 * Playwright: `/usr/bin/chromium`, else `chromium` or `chromium-browser` on PATH. `undefined`
 * when there is none (the browser tests skip, saying so; CI installs it).
 */
export function findChromium(): string | undefined {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter((d) => d !== '');
  const candidates = ['/usr/bin/chromium', ...['chromium', 'chromium-browser'].flatMap((name) => dirs.map((dir) => join(dir, name)))];
  return candidates.find((path) => {
    try {
      accessSync(path, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}
