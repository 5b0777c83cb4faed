// The digest of what dist/ is built from, which scripts/build.js writes into dist/ and
// scripts/prepare.js compares: the same digest means dist/ is current.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** The files and folders dist/ is built from, relative to the package root. */
const INPUTS = ['src', 'scripts', 'tsconfig.json', 'tsconfig.build.json', 'packages/client/src', 'packages/client/scripts', 'packages/client/tsconfig.json', 'packages/client/tsconfig.cjs.json'];

/** Where the build writes the digest. */
export const DIGEST_FILE = 'dist/.sources-sha256';

function files(path) {
  if (!existsSync(path)) return [];
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path).sort().flatMap((name) => files(join(path, name)));
}

/** SHA-256 over the inputs' paths and contents; undefined when the sources are not here (an installed package). */
export function sourcesDigest() {
  if (!existsSync('src')) return undefined;
  const hash = createHash('sha256');
  for (const file of INPUTS.flatMap(files)) hash.update(`${file}\0`).update(readFileSync(file)).update('\0');
  return hash.digest('hex');
}
