import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { it } from 'node:test';
import { PLATFORM_NAMES } from '../src/platforms/index.js';

const ROOT = new URL('..', import.meta.url).pathname;
/** Every platform's name, and those of the platforms planned next. */
const NAMES = [...new Set([...PLATFORM_NAMES, 'feishu', 'lark', 'dingtalk', 'wecom', 'wechat', 'qingtui'])];

async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(join(ROOT, dir), { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await sources(path)));
    else if (entry.name.endsWith('.ts')) out.push(path);
  }
  return out;
}

/** The code of a file without its comments (line comments and block comments; strings are kept). */
function code(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1');
}

/**
 * The rule: outside comments, no file of src/core or src/server names a platform (case-insensitive,
 * in identifiers, strings and import paths alike). What a platform is lives in its descriptor
 * (src/platforms) and its provider and simulator; the core and the server loop over the registry.
 * Comments may still give a platform as an example.
 */
it('src/core and src/server name no platform outside comments', async () => {
  const pattern = new RegExp(NAMES.join('|'), 'i');
  const found: string[] = [];
  for (const file of [...(await sources('src/core')), ...(await sources('src/server'))]) {
    const lines = code(await readFile(join(ROOT, file), 'utf8')).split('\n');
    for (const [i, line] of lines.entries()) if (pattern.test(line)) found.push(`${file}:${i + 1}: ${line.trim()}`);
  }
  assert.deepEqual(found, [], `platform names in the core or the server:\n${found.join('\n')}`);
});

/** The module specifiers a file imports or re-exports (static and dynamic), comments left out. */
function imports(text: string): string[] {
  const body = code(text);
  return [...body.matchAll(/\bfrom\s+['"]([^'"]+)['"]|\bimport\s*\(\s*['"]([^'"]+)['"]|^\s*import\s+['"]([^'"]+)['"]/gm)].map((m) => (m[1] ?? m[2] ?? m[3])!);
}

/**
 * The server and the client are two packages: the server ships a copy of the client's build
 * (tokenhub/client) but no code of src/ uses it, and the client (packages/client, published on its
 * own with no dependencies) imports nothing but its own files.
 */
it('src/ imports nothing of the client package, and the client imports only its own files', async () => {
  const found: string[] = [];
  for (const file of await sources('src')) {
    for (const spec of imports(await readFile(join(ROOT, file), 'utf8'))) {
      if (/(^|\/)packages\/client(\/|$)|^@tokenhub\/client|^tokenhub\/client/.test(spec)) found.push(`${file}: ${spec}`);
    }
  }
  for (const file of await sources('packages/client/src')) {
    for (const spec of imports(await readFile(join(ROOT, file), 'utf8'))) if (!/^\.\/[\w-]+\.js$/.test(spec)) found.push(`${file}: ${spec}`);
  }
  assert.deepEqual(found, []);
});
