// The installed dependencies against the Node versions tokenhub declares (scripts/check-engines.js),
// and Fastify's inject with light-my-request pinned to 6.6.0 (cookie 1, which takes Node 20;
// light-my-request 6.8 wants cookie 2, which needs Node 22).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import Fastify from 'fastify';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CHECK = join(ROOT, 'scripts', 'check-engines.js');

describe('scripts/check-engines.js', () => {
  it("passes on this checkout's node_modules: no package refuses a Node version of engines (production) or devEngines (development)", async () => {
    const { stdout } = await run(process.execPath, [CHECK], { cwd: ROOT });
    assert.match(stdout, /^check-engines: \d+ packages take node 20\.18\.1 .*\(development: 20\.19\.0/);
  });

  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tokenhub-engines-'));
    const write = async (path: string, manifest: Record<string, unknown>): Promise<void> => {
      await mkdir(join(dir, path), { recursive: true });
      await writeFile(join(dir, path, 'package.json'), JSON.stringify(manifest));
    };
    await write('.', { name: 'fixture', engines: { node: '>=20.18.1' }, devEngines: { runtime: { name: 'node', version: '>=20.19.0' } } });
    await write('node_modules/old-enough', { name: 'old-enough', version: '1.0.0', engines: { node: '>=18' } });
    await write('node_modules/no-engines', { name: 'no-engines', version: '1.0.0' });
    await write('node_modules/wants-22', { name: 'wants-22', version: '2.0.2', engines: { node: '>=22' } });
    await write('node_modules/@scope/lib/node_modules/wants-20-19', { name: 'wants-20-19', version: '3.0.0', engines: { node: '^20.19.0 || >=22' } });
    await write('node_modules/dev-tool', { name: 'dev-tool', version: '4.0.0', engines: { node: '^20.19.0 || >=22' } });
    await write('node_modules/@scope/lib', { name: '@scope/lib', version: '1.0.0' });
    // npm's record of the tree: dev-tool only the development needs, held to devEngines.
    await writeFile(join(dir, 'node_modules', '.package-lock.json'), JSON.stringify({ lockfileVersion: 3, packages: { 'node_modules/dev-tool': { version: '4.0.0', dev: true } } }));
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('fails naming each production package that refuses the lowest Node of engines, nested ones included, and no other', async () => {
    const failed = await run(process.execPath, [CHECK, dir]).then(
      () => assert.fail('check-engines passed'),
      (err: { code: number; stderr: string }) => err,
    );
    assert.equal(failed.code, 1);
    const named = failed.stderr.trim().split('\n').slice(1).map((line) => line.trim().split(' ')[0]);
    assert.deepEqual(named.sort(), ['wants-20-19@3.0.0', 'wants-22@2.0.2']);
    assert.match(failed.stderr, /wants-22@2\.0\.2 \(node_modules\/wants-22, production\) wants node >=22, refuses 20\.18\.1/);
  });

  it("holds a package to another manifest's engines when given one (an installed tarball's)", async () => {
    await writeFile(join(dir, 'other.json'), JSON.stringify({ name: 'other', engines: { node: '>=22.0.0' } }));
    const { stdout } = await run(process.execPath, [CHECK, dir, join(dir, 'other.json')]);
    assert.match(stdout, /^check-engines: 6 packages take node 22\.0\.0/);
  });
});

describe("Fastify's inject with the pinned light-my-request", () => {
  it('sends the cookies it is given and parses the cookies the route sets', async () => {
    const app = Fastify();
    app.get('/', async (request, reply) => {
      reply.header('set-cookie', ['session=abc; Path=/; HttpOnly', 'theme=dark%20blue']);
      return { cookie: request.headers.cookie };
    });
    const res = await app.inject({ method: 'GET', url: '/', cookies: { a: '1', b: 'x y' } });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { cookie: 'a=1; b=x%20y' });
    assert.deepEqual(
      res.cookies.map((c) => ({ name: c.name, value: c.value, httpOnly: c.httpOnly ?? false })),
      [
        { name: 'session', value: 'abc', httpOnly: true },
        { name: 'theme', value: 'dark blue', httpOnly: false },
      ],
    );
    await app.close();
  });
});
