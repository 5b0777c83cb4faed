// The image's steps without a Docker engine: deploy/Dockerfile's own RUN, ENV, USER, ENTRYPOINT,
// CMD and HEALTHCHECK lines, read from the file and run here with the image's directories
// (/src, /out, /opt/tokenhub, /etc/tokenhub, /data) moved under a temp dir. Base images cannot be
// pulled on these machines; what only the engine does (the base image, the runtime stage's RUN
// that makes the user, the COPY between stages) is not run (docs/deployment.md says so).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, chown, copyFile, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { FeishuSim, startSimulators, type RunningSimulators } from '../../src/sim/index.js';
import { runChild, type Child } from '../helpers/child.js';
import { freePort } from '../helpers/redis.js';
import { all, DEPLOY, envOf, execForm, healthcheckCommand, one, readDockerfile, ROOT, runWords, type Dockerfile, type Stage } from './dockerfile.js';

const run = promisify(execFile);

/** The image's own directories, each re-rooted under the temp dir here. */
const IMAGE_DIRS = ['/src', '/out', '/opt/tokenhub', '/etc/tokenhub', '/data'];
const rerooter = (tmp: string): ((word: string) => string) => {
  const dirs = new RegExp(`(^|[:=])(${IMAGE_DIRS.join('|')})(?=/|:|$)`, 'g');
  return (word) => word.replace(dirs, `$1${tmp}$2`);
};

/** A .dockerignore pattern as Docker matches it: anchored at the root, `*` within a name, `**` across names. */
function dockerPattern(pattern: string): RegExp {
  if (/[?[\]!\\]/.test(pattern)) throw new Error(`.dockerignore: this test matches only * and **, not ${pattern}`);
  let re = '';
  const p = pattern.replace(/^\/+|\/+$/g, '');
  for (let i = 0; i < p.length; ) {
    if (p.startsWith('**/', i)) [re, i] = [re + '(?:.*/)?', i + 3];
    else if (p.startsWith('**', i)) [re, i] = [re + '.*', i + 2];
    else if (p[i] === '*') [re, i] = [re + '[^/]*', i + 1];
    else [re, i] = [re + p[i]!.replace(/[.+^${}()|]/g, '\\$&'), i + 1];
  }
  return new RegExp(`^${re}$`);
}

const patternLines = (text: string): string[] =>
  text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));

/**
 * The build context `COPY . .` sees: the working tree's files that git does not ignore (tracked,
 * or new), without what .dockerignore leaves out (a path is left out when it or a parent matches).
 */
async function contextFiles(): Promise<string[]> {
  const { stdout } = await run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 });
  const ignored = patternLines(await readFile(join(ROOT, '.dockerignore'), 'utf8')).map(dockerPattern);
  const files: string[] = [];
  for (const file of new Set(stdout.split('\0').filter(Boolean))) {
    const parts = file.split('/');
    if (parts.some((_, i) => ignored.some((re) => re.test(parts.slice(0, i + 1).join('/'))))) continue;
    // Deleted in the working tree but not yet in the index.
    if (!(await stat(join(ROOT, file)).catch(() => undefined))?.isFile()) continue;
    files.push(file);
  }
  return files;
}

/** npm's own variables of an `npm test` run (npm_config_local_prefix names this tree) stay out of the nested npm. */
function npmEnv(): NodeJS.ProcessEnv {
  const keep = /^npm_config_(registry|cache|userconfig|globalconfig)$/;
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) || keep.test(k)));
  // The dependencies from npm's cache where they are (npm ci filled it), else the registry.
  return { ...env, npm_config_prefer_offline: 'true' };
}

const APP_ID = 'cli_deploy_image';
const APP_SECRET = `image-secret-${randomBytes(8).toString('hex')}`;
const APP_KEY = `image-app-key-${randomBytes(12).toString('hex')}`;
const OPS_KEY = `image-ops-key-${randomBytes(12).toString('hex')}`;
const STORE_KEY = randomBytes(32).toString('base64');

describe('deploy/Dockerfile', () => {
  let dockerfile: Dockerfile;
  let build: Stage;
  let runtime: Stage;
  before(async () => {
    dockerfile = await readDockerfile();
    assert.equal(dockerfile.stages.length, 2, 'a build stage and a runtime stage');
    [build, runtime] = dockerfile.stages as [Stage, Stage];
  });

  it('builds with deploy/build.sh and deploy/install.sh and nothing else, on a Node 20 slim base, and copies only the install into the runtime stage', async () => {
    for (const stage of dockerfile.stages) assert.match(stage.from, /^node:20-(bookworm-)?slim(@sha256:[0-9a-f]{64})?$/);
    assert.equal(build.name, 'build');
    assert.deepEqual(all(build, 'COPY'), ['. .']);
    assert.deepEqual(
      all(build, 'RUN').map((r) => runWords(r)[0]),
      ['deploy/build.sh', 'deploy/install.sh'],
    );
    assert.deepEqual(all(runtime, 'COPY'), ['--from=build /opt/tokenhub /opt/tokenhub']);
    // The runtime stage's one RUN makes the user and /data; it installs nothing.
    for (const r of all(runtime, 'RUN')) assert.doesNotMatch(r, /\b(npm|npx|yarn|apt-get|curl|wget)\s+(ci|install|add|get)\b/);
    // Every script a RUN names is in the tree and executable.
    for (const r of all(build, 'RUN')) {
      const script = runWords(r)[0]!;
      assert.ok((await stat(join(ROOT, script))).mode & 0o100, `${script} is not executable`);
    }
  });

  it('runs as a user of its own, with /data as a volume, port 8700, SIGTERM to stop, a health check, and tokenhub-start as the entrypoint', () => {
    assert.match(one(runtime, 'USER'), /^[1-9]\d*:[1-9]\d*$/, 'a numeric non-root user (Kubernetes runAsNonRoot can check it)');
    assert.equal(one(runtime, 'VOLUME'), '/data');
    assert.equal(one(runtime, 'EXPOSE'), '8700');
    assert.equal(one(runtime, 'STOPSIGNAL'), 'SIGTERM');
    assert.deepEqual(healthcheckCommand(one(runtime, 'HEALTHCHECK')), ['/opt/tokenhub/bin/tokenhub-healthcheck']);
    assert.deepEqual(execForm(one(runtime, 'ENTRYPOINT')), ['/opt/tokenhub/bin/tokenhub-start']);
    assert.deepEqual(execForm(one(runtime, 'CMD')), ['serve', '--config', '/etc/tokenhub/config.yaml']);
    assert.equal(envOf(runtime).STATE_DIRECTORY, '/data', 'deploy/config.file.yaml keeps the file store in STATE_DIRECTORY');
  });

  it('.dockerignore leaves out everything .gitignore does (a local data dir, node_modules, secrets never reach the image)', async () => {
    const docker = new Set(patternLines(await readFile(join(ROOT, '.dockerignore'), 'utf8')));
    assert.ok(docker.has('.git'));
    for (const line of patternLines(await readFile(join(ROOT, '.gitignore'), 'utf8'))) {
      // A .gitignore line with no slash but a trailing one matches at any depth; .dockerignore's are anchored.
      const bare = line.replace(/\/$/, '');
      const want = bare.includes('/') ? bare : `**/${bare}`;
      assert.ok(docker.has(want), `.gitignore has ${line}: .dockerignore needs ${want}`);
    }
  });
});

describe("the image's steps from a clean copy of the tree, then tokenhub from the install, as the image runs it", { timeout: 180_000 }, () => {
  let tmp: string;
  let reroot: (word: string) => string;
  let runtime: Stage;
  let prefix: string;
  let dataDir: string;
  let configFile: string;
  let sim: FeishuSim;
  let sims: RunningSimulators;
  let port: number;
  let user: { uid: number; gid: number } | undefined;
  let imageEnv: NodeJS.ProcessEnv;
  const children: Child[] = [];

  before(async () => {
    const dockerfile = await readDockerfile();
    const [build, rt] = dockerfile.stages as [Stage, Stage];
    runtime = rt;
    tmp = await mkdtemp(join(tmpdir(), 'tokenhub-image-'));
    // Other users (the image's) must reach what is inside.
    await chmod(tmp, 0o755);
    reroot = rerooter(tmp);

    // COPY . . into WORKDIR /src.
    const src = reroot(one(build, 'WORKDIR'));
    for (const file of await contextFiles()) {
      await mkdir(dirname(join(src, file)), { recursive: true });
      await copyFile(join(ROOT, file), join(src, file));
    }
    // The build stage's RUN lines, as they are.
    for (const line of all(build, 'RUN')) {
      const [command, ...args] = runWords(line).map(reroot);
      await run(command!, args, { cwd: src, env: npmEnv(), maxBuffer: 64 * 1024 * 1024 }).catch((err: { stderr?: string; message: string }) => {
        throw new Error(`${line}: ${err.stderr ?? err.message}`);
      });
    }
    prefix = reroot('/opt/tokenhub');

    // What the runtime stage's RUN does (useradd; /data owned by the user, 0700): as root, the
    // server runs as the image's USER; otherwise as the user running the tests.
    const [uid, gid] = one(runtime, 'USER').split(':').map(Number) as [number, number];
    user = process.getuid?.() === 0 ? { uid, gid } : undefined;
    dataDir = reroot('/data');
    await mkdir(dataDir, { mode: 0o700 });
    if (user) await chown(dataDir, user.uid, user.gid);

    // The secrets, as files the user can read (a compose secret, a Kubernetes secret volume).
    const secrets = join(tmp, 'secrets');
    await mkdir(secrets, { mode: 0o755 });
    const secretEnv: Record<string, string> = {};
    for (const [name, value] of Object.entries({ TOKENHUB_STORE_KEY: STORE_KEY, TOKENHUB_APP_KEY: APP_KEY, TOKENHUB_OPS_KEY: OPS_KEY, FEISHU_APP_SECRET: APP_SECRET })) {
      const file = join(secrets, name.toLowerCase());
      // With the trailing newline `echo` or `base64` leave: tokenhub-start drops it.
      await writeFile(file, `${value}\n`, { mode: 0o600 });
      if (user) await chown(file, user.uid, user.gid);
      secretEnv[`${name}_FILE`] = file;
    }

    sim = new FeishuSim({ apps: [{ appId: APP_ID, appSecret: APP_SECRET }] });
    sims = await startSimulators({ sims: [sim] });
    port = await freePort();
    // deploy/config.file.yaml as it is, but on loopback and against the simulator.
    const config = parse(await readFile(join(DEPLOY, 'config.file.yaml'), 'utf8')) as { listen: unknown; apps: Record<string, Record<string, unknown>> };
    config.listen = { host: '127.0.0.1', port };
    for (const app of Object.values(config.apps)) app.baseUrl = sims.baseUrl('feishu');
    configFile = reroot('/etc/tokenhub/config.yaml');
    await mkdir(dirname(configFile), { recursive: true });
    await writeFile(configFile, stringify(config));

    // The image's ENV (PATH on top of a base image's), the app id (no secret), the secret files.
    const env = envOf(runtime);
    const basePath = `${dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`;
    imageEnv = {
      ...Object.fromEntries(Object.entries(env).map(([k, v]) => [k, reroot(v.replace('$PATH', basePath))])),
      FEISHU_APP_ID: APP_ID,
      ...secretEnv,
    };
  });

  after(async () => {
    for (const child of children) await child.kill();
    await sims?.close();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  /** ENTRYPOINT + CMD, as `docker run` starts them. */
  const start = async (): Promise<Child> => {
    const [command, ...args] = [...execForm(one(runtime, 'ENTRYPOINT')), ...execForm(one(runtime, 'CMD'))].map(reroot);
    const child = runChild(command!, args, { env: imageEnv, exactEnv: true, user });
    children.push(child);
    await child.waitFor(/tokenhub ready/, 20_000);
    return child;
  };
  /** The HEALTHCHECK's command: its exit code and what it said. */
  const probe = async (): Promise<{ code: number; stderr: string }> => {
    const [command, ...args] = healthcheckCommand(one(runtime, 'HEALTHCHECK')).map(reroot);
    const env = { ...imageEnv, TOKENHUB_HEALTH_URL: `http://127.0.0.1:${port}/healthz` };
    return run(command!, args, { env, ...user, timeout: 10_000 }).then(
      ({ stderr }) => ({ code: 0, stderr }),
      (err: { code?: number; stderr?: string }) => ({ code: err.code ?? -1, stderr: err.stderr ?? '' }),
    );
  };
  const token = (key: string): Promise<Response> => fetch(`http://127.0.0.1:${port}/v1/apps/feishu-main/tokens/tenant_access_token`, { headers: { authorization: `Bearer ${key}` } });
  const messages = (child: Child): string[] => child.lines.map((l) => (l.startsWith('{') ? (JSON.parse(l) as { msg: string }).msg : l));

  it('installs tokenhub with its production dependencies only, and the two scripts the image runs', async () => {
    for (const bin of ['tokenhub', 'tokenhub-start', 'tokenhub-healthcheck']) assert.ok((await stat(join(prefix, 'bin', bin))).mode & 0o001, `${bin} is not executable by others`);
    const { devDependencies, dependencies } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as Record<string, Record<string, string>>;
    const installed = join(prefix, 'lib', 'node_modules', 'tokenhub', 'node_modules');
    for (const name of Object.keys(dependencies ?? {})) assert.ok(await stat(join(installed, name)).catch(() => undefined), `${name} (a dependency) is not installed`);
    // A devDependency may be there only as some installed package's dependency (prom-client needs @opentelemetry/api).
    const needed = new Set<string>();
    for (const entry of await readdir(installed, { recursive: true })) {
      if (!entry.endsWith('package.json')) continue;
      const pkg = JSON.parse(await readFile(join(installed, entry), 'utf8').catch(() => '{}')) as Record<string, unknown>;
      if (typeof pkg.name !== 'string' || !entry.endsWith(`${pkg.name}/package.json`)) continue;
      for (const field of ['dependencies', 'optionalDependencies']) for (const dep of Object.keys((pkg[field] as object | undefined) ?? {})) needed.add(dep);
    }
    for (const name of Object.keys(devDependencies ?? {})) {
      if (needed.has(name)) continue;
      assert.equal(await stat(join(installed, name)).catch(() => undefined), undefined, `${name} (a devDependency) is installed`);
    }
    assert.equal(await stat(join(prefix, 'lib', 'node_modules', 'tokenhub', 'src')).catch(() => undefined), undefined, 'the sources are not shipped');
  });

  it('serves a token from the file store in /data, answers the HEALTHCHECK, reloads on SIGHUP, drains and exits 0 on SIGTERM, and a restart on the same /data calls no platform', async () => {
    const child = await start();
    assert.deepEqual(await probe(), { code: 0, stderr: '' });

    const first = await token(APP_KEY);
    assert.equal(first.status, 200);
    const { token: issued } = (await first.json()) as { token: string };
    assert.ok(sim.isValid(issued));
    assert.equal(sim.counters.count(), 1);

    // At rest: a private dir, private files, nothing readable (the store key came from its file).
    assert.equal((await stat(dataDir)).mode & 0o777, 0o700);
    const files = (await readdir(dataDir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile());
    assert.ok(files.some((f) => f.parentPath.endsWith('entries')), 'no entry file in the data dir');
    for (const f of files) {
      const path = join(f.parentPath, f.name);
      const [mode, text] = [(await stat(path)).mode & 0o777, await readFile(path, 'utf8')];
      if (user) assert.equal((await stat(path)).uid, user.uid);
      assert.equal(mode & 0o077, 0, `${path} is readable by others (${mode.toString(8)})`);
      for (const secret of [issued, APP_SECRET, APP_KEY, STORE_KEY]) assert.ok(!text.includes(secret), `${path} holds a secret in plain text`);
    }

    // SIGHUP: a client added to the file (by its key's hash, no secret in the file) may ask at once.
    const lateKey = `image-late-key-${randomBytes(12).toString('hex')}`;
    assert.equal((await token(lateKey)).status, 401);
    const config = parse(await readFile(configFile, 'utf8')) as { clients: unknown[] };
    config.clients.push({ name: 'late', keySha256: createHash('sha256').update(lateKey).digest('hex'), apps: ['*'] });
    await writeFile(configFile, stringify(config));
    child.process.kill('SIGHUP');
    await child.waitFor(/"config reloaded"/, 10_000);
    const late = await token(lateKey);
    assert.equal(late.status, 200);
    assert.equal(((await late.json()) as { token: string }).token, issued);

    child.process.kill('SIGTERM');
    assert.equal(await child.exited, 0);
    assert.ok(messages(child).includes('stopped'), messages(child).join('\n'));
    const down = await probe();
    assert.equal(down.code, 1);
    assert.match(down.stderr, /ECONNREFUSED/);

    // A container recreated on the same volume serves the token it had.
    const again = await start();
    const second = await token(APP_KEY);
    assert.equal(second.status, 200);
    assert.equal(((await second.json()) as { token: string }).token, issued);
    assert.equal(sim.counters.count(), 1, 'the restarted server called the platform');
    again.process.kill('SIGTERM');
    assert.equal(await again.exited, 0);

    for (const c of [child, again]) {
      for (const line of c.lines) for (const secret of [issued, APP_SECRET, APP_KEY, OPS_KEY, STORE_KEY]) assert.ok(!line.includes(secret), `a secret in the log: ${line}`);
    }
  });

  it('tokenhub-start refuses a secret given twice or a secret file it cannot read, naming the variable and not the value', async () => {
    const [command] = execForm(one(runtime, 'ENTRYPOINT')).map(reroot);
    const attempt = (env: NodeJS.ProcessEnv): Promise<{ code: number; stderr: string }> =>
      run(command!, ['serve'], { env: { ...imageEnv, ...env }, ...user, timeout: 10_000 }).then(
        () => ({ code: 0, stderr: '' }),
        (err: { code?: number; stderr?: string }) => ({ code: err.code ?? -1, stderr: err.stderr ?? '' }),
      );
    const twice = await attempt({ TOKENHUB_STORE_KEY: STORE_KEY });
    assert.equal(twice.code, 1);
    assert.equal(twice.stderr, 'tokenhub-start: both TOKENHUB_STORE_KEY and TOKENHUB_STORE_KEY_FILE are set: give one of them\n');
    const missing = await attempt({ FEISHU_APP_SECRET_FILE: join(tmp, 'secrets', 'nope') });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^tokenhub-start: FEISHU_APP_SECRET_FILE: cannot read .*nope\n$/);
    for (const r of [twice, missing]) assert.ok(!r.stderr.includes(STORE_KEY) && !r.stderr.includes(APP_SECRET));
  });
});
