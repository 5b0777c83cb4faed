// Builds dist/ from a clean one: the server (tsc); the console's page, script and styles, which
// tsc does not copy; the client, built in its own package (packages/client) and copied into
// dist/client (ES modules) and dist/cjs/client (CommonJS), so that `tokenhub/client` works with
// no dependency on @tokenhub/client; last the sources' digest, by which scripts/prepare.js knows
// dist/ is current. npm runs it from the package root.
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { DIGEST_FILE, sourcesDigest } from './sources.js';

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
rmSync('dist', { recursive: true, force: true });
execFileSync(process.execPath, ['scripts/build.js'], { cwd: 'packages/client', stdio: 'inherit' });
execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
// tsc writes mode 644; npm makes a bin executable only when it links one, and npx keeps its link
// to a checkout's bin across rebuilds, so a rebuilt dist/ must make it executable itself.
for (const bin of Object.values(JSON.parse(readFileSync('package.json', 'utf8')).bin)) chmodSync(bin, 0o755);
cpSync('src/server/console', 'dist/server/console', { recursive: true });
cpSync('packages/client/dist/esm', 'dist/client', { recursive: true });
cpSync('packages/client/dist/cjs', 'dist/cjs/client', { recursive: true });
writeFileSync(DIGEST_FILE, `${sourcesDigest()}\n`);
