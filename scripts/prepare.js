// `npm install` / `npm ci` in a checkout run this. dist/ is built unless it is current (built from
// these very sources: scripts/sources.js). Without TypeScript (`--omit=dev`, NODE_ENV=production)
// it is built as npm builds a git dependency: in a temporary copy of the checkout, with every
// dependency of package-lock.json; only dist/ comes back, node_modules keeps what was asked for.
// In an unpacked tarball (no src/) dist/ is the one shipped. npm runs it from the package root.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DIGEST_FILE, sourcesDigest } from './sources.js';

const say = (line) => console.error(`tokenhub prepare: ${line}`);
const digest = sourcesDigest();
const built = existsSync(DIGEST_FILE) ? readFileSync(DIGEST_FILE, 'utf8').trim() : undefined;

function hasTypeScript() {
  try {
    createRequire(import.meta.url).resolve('typescript/bin/tsc');
    return true;
  } catch {
    return false;
  }
}

/** What the build reads, copied without node_modules or built files. */
const COPY = ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'src', 'scripts', 'packages'];
const skip = (path) => !/(^|\/)(node_modules|dist)(\/|$)/.test(path);
/** The npm that runs this script (npm sets npm_execpath), else the one on PATH. */
const npm = process.env.npm_execpath ? [process.execPath, process.env.npm_execpath] : ['npm'];

function buildElsewhere() {
  const dir = mkdtempSync(join(tmpdir(), 'tokenhub-build-'));
  try {
    for (const path of COPY) cpSync(path, join(dir, path), { recursive: true, filter: skip });
    // The outer npm's --omit=dev reaches a child npm through its environment; this install wants the dev dependencies.
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_config_(omit|include|production|only|dev)$/i.test(name)));
    execFileSync(npm[0], [...npm.slice(1), 'ci', '--include=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: dir, env, stdio: 'inherit' });
    execFileSync(process.execPath, ['scripts/build.js'], { cwd: dir, env, stdio: 'inherit' });
    rmSync('dist', { recursive: true, force: true });
    cpSync(join(dir, 'dist'), 'dist', { recursive: true });
    rmSync('packages/client/dist', { recursive: true, force: true });
    cpSync(join(dir, 'packages/client/dist'), 'packages/client/dist', { recursive: true });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (digest === undefined) {
  say(existsSync('dist') ? 'no sources here: dist/ is the one shipped' : 'no sources and no dist/: nothing to run');
} else if (digest === built) {
  say('dist/ is current, not rebuilt');
} else if (hasTypeScript()) {
  say('building dist/');
  execFileSync(process.execPath, ['scripts/build.js'], { stdio: 'inherit' });
} else {
  say('TypeScript is not installed (--omit=dev): building dist/ in a temporary copy with the dev dependencies of package-lock.json');
  try {
    buildElsewhere();
  } catch (err) {
    say(`the build failed (${err.message.split('\n')[0]}); build where the dev dependencies can be installed: \`npm ci\` then \`npm prune --omit=dev\`, or \`npm pack\` and install the tarball`);
    process.exit(1);
  }
  say('dist/ built; node_modules holds the production dependencies only');
}
