// deploy/compose.yaml without a Docker engine: the file read as compose reads it, its services
// checked against deploy/config.yaml and the image, then its Redis run here with the compose
// command and the ACL deploy/make-secrets.sh writes, and two tokenhub instances on it built from
// deploy/config.yaml with the environment compose gives them. The containers themselves are not run.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { parse, stringify } from 'yaml';
import { parseConfig } from '../../src/config.js';
import { createHub, type Hub } from '../../src/hub.js';
import { createLogger } from '../../src/logger.js';
import { FeishuSim, startSimulators, type RunningSimulators } from '../../src/sim/index.js';
import { freePort, startRedisServer, type OwnRedis } from '../helpers/redis.js';
import { LogCapture } from '../helpers/stack.js';
import { DEPLOY, execForm, healthcheckCommand, one, readDockerfile, ROOT } from './dockerfile.js';

const run = promisify(execFile);

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  restart?: string;
  depends_on?: Record<string, { condition: string }>;
  environment?: Record<string, string>;
  secrets?: string[];
  volumes?: string[];
  ports?: string[];
  healthcheck?: { test: string[] };
  ulimits?: Record<string, number>;
  read_only?: boolean;
  cap_drop?: string[];
}
interface Compose {
  services: Record<string, Service>;
  secrets: Record<string, { file: string }>;
  volumes: Record<string, unknown>;
}

/** The environment variables that are not secrets, and may be given as plain values. */
const NOT_SECRET = new Set(['REDIS_ADDRESS', 'FEISHU_APP_ID']);
const TOKENHUBS = ['tokenhub-1', 'tokenhub-2'];

/** The `${NAME}` a config's values use (its comments may name others). */
function variables(text: string): Set<string> {
  const names = new Set<string>();
  const walk = (value: unknown): void => {
    if (typeof value === 'string') for (const m of value.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)) names.add(m[1]!);
    else if (typeof value === 'object' && value !== null) Object.values(value).forEach(walk);
  };
  walk(parse(text));
  return names;
}

/** Compose's own `${NAME}`, `${NAME:?message}`, `${NAME:-default}` from the shell's environment. */
const interpolate = (value: string, env: Record<string, string>): string =>
  value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?[?-][^}]*)?\}/g, (_, name: string) => {
    const v = env[name];
    if (v === undefined) throw new Error(`compose needs ${name} from the shell`);
    return v;
  });

async function readCompose(): Promise<Compose> {
  // Compose reads YAML merge keys (<<: *tokenhub).
  return parse(await readFile(join(DEPLOY, 'compose.yaml'), 'utf8'), { merge: true }) as Compose;
}

/** Dummy values that pass the validator, for each variable of the samples. */
const DUMMY: Record<string, string> = {
  TOKENHUB_STORE_KEY: randomBytes(32).toString('base64'),
  TOKENHUB_APP_KEY: 'dummy-app-key-0123456789',
  TOKENHUB_OPS_KEY: 'dummy-ops-key-0123456789',
  FEISHU_APP_ID: 'cli_dummy',
  FEISHU_APP_SECRET: 'dummy-secret',
  REDIS_PASSWORD: 'dummy-password',
  REDIS_ADDRESS: 'redis:6379',
  STATE_DIRECTORY: '/var/lib/tokenhub',
};

describe('deploy/config.yaml and deploy/config.file.yaml', () => {
  for (const [file, store] of [
    ['config.yaml', 'redis'],
    ['config.file.yaml', 'file'],
  ] as const) {
    it(`${file} validates with tokenhub's own config loader given its environment, and names each variable that is missing`, async () => {
      const text = await readFile(join(DEPLOY, file), 'utf8');
      const names = [...variables(text)];
      for (const name of names) assert.ok(name in DUMMY, `${file} uses \${${name}}, which this test has no dummy for`);
      const env = Object.fromEntries(names.map((n) => [n, DUMMY[n]!]));
      const config = parseConfig(text, env);
      assert.equal(config.store.type, store);
      assert.ok('encryptionKey' in config.store && config.store.encryptionKey === DUMMY.TOKENHUB_STORE_KEY, 'the store is encrypted, by the key from the environment');
      assert.equal(config.listen.port, 8700);
      for (const name of names) {
        const { [name]: _, ...without } = env;
        assert.throws(() => parseConfig(text, without), new RegExp(`environment variable ${name} is not set`));
      }
    });
  }
});

describe('deploy/compose.yaml', () => {
  let compose: Compose;
  let configText: string;
  before(async () => {
    compose = await readCompose();
    configText = await readFile(join(DEPLOY, 'config.yaml'), 'utf8');
  });

  it('has Redis and two tokenhub instances built from deploy/Dockerfile, restarted, healthy-checked the image\'s way, started once Redis is healthy', async () => {
    assert.deepEqual(Object.keys(compose.services).sort(), ['redis', ...TOKENHUBS]);
    const runtime = (await readDockerfile()).stages.at(-1)!;
    const configPath = execForm(one(runtime, 'CMD')).at(-1);
    for (const name of TOKENHUBS) {
      const s = compose.services[name]!;
      assert.ok(s.build, `${name} has no build`);
      assert.equal(resolve(DEPLOY, s.build.context, s.build.dockerfile), join(ROOT, 'deploy', 'Dockerfile'));
      assert.ok(['always', 'unless-stopped', 'on-failure'].includes(s.restart ?? ''), `${name} restart: ${s.restart}`);
      assert.deepEqual(s.depends_on, { redis: { condition: 'service_healthy' } });
      assert.deepEqual(s.healthcheck?.test, ['CMD', ...healthcheckCommand(one(runtime, 'HEALTHCHECK'))]);
      assert.deepEqual(s.volumes, [`./config.yaml:${configPath}:ro`]);
      assert.equal(s.ulimits?.core, 0, 'no core dumps (they would hold tokens)');
      assert.equal(s.read_only, true);
      assert.deepEqual(s.cap_drop, ['ALL']);
    }
    assert.notDeepEqual(compose.services['tokenhub-1']!.ports, compose.services['tokenhub-2']!.ports);
    const redis = compose.services.redis!;
    assert.ok(redis.restart);
    assert.ok(redis.healthcheck?.test);
    const [, volume] = /^([\w-]+):\/data$/.exec(redis.volumes?.[0] ?? '') ?? [];
    assert.ok(volume && volume in compose.volumes, 'Redis keeps /data in a named volume');
  });

  it("gives each instance exactly the variables deploy/config.yaml uses, every secret as a secret file and none in the compose file", () => {
    const used = variables(configText);
    for (const name of TOKENHUBS) {
      const s = compose.services[name]!;
      const env = s.environment ?? {};
      assert.deepEqual(new Set(Object.keys(env).map((k) => k.replace(/_FILE$/, ''))), used, `${name}'s environment and config.yaml's variables`);
      for (const [key, value] of Object.entries(env)) {
        const base = key.replace(/_FILE$/, '');
        if (NOT_SECRET.has(base)) {
          assert.equal(key, base, `${key}: not a secret, given as a value`);
          continue;
        }
        assert.notEqual(key, base, `${key} is a secret: give it as ${key}_FILE`);
        const [, secret] = /^\/run\/secrets\/([\w.-]+)$/.exec(value) ?? [];
        assert.ok(secret, `${key} is not a path under /run/secrets`);
        assert.ok(s.secrets?.includes(secret), `${name} does not mount the secret ${secret}`);
        assert.equal(compose.secrets[secret]?.file, `./secrets/${secret}`);
      }
    }
  });

  describe('run here: its Redis with the secrets make-secrets.sh writes, and two tokenhub instances from config.yaml with the environment compose gives them', () => {
    let tmp: string;
    let secrets: string;
    let redis: OwnRedis;
    let sim: FeishuSim;
    let sims: RunningSimulators;
    const hubs: Hub[] = [];
    const appId = 'cli_deploy_compose';
    const appSecret = `compose-secret-${randomBytes(8).toString('hex')}`;
    before(async () => {
      tmp = await mkdtemp(join(tmpdir(), 'tokenhub-compose-'));
      secrets = join(tmp, 'secrets');
      await run(join(DEPLOY, 'make-secrets.sh'), [secrets]);
      await writeFile(join(secrets, 'feishu_app_secret'), appSecret);
      sim = new FeishuSim({ apps: [{ appId, appSecret }] });
      sims = await startSimulators({ sims: [sim] });
    });
    after(async () => {
      for (const hub of hubs) await hub.close();
      await redis?.stop();
      await sims?.close();
      if (tmp) await rm(tmp, { recursive: true, force: true });
    });

    /** A secret's file here, by compose's mapping of /run/secrets/<name> to ./secrets/<file>. */
    const secretFile = (path: string): string => path.replace(/^\/run\/secrets\/([\w.-]+)$/, (_, name: string) => join(secrets, basename(compose.secrets[name]!.file)));

    it('make-secrets.sh writes every secret file compose mounts, in a private dir, and keeps them when run again', async () => {
      assert.equal((await stat(secrets)).mode & 0o777, 0o700);
      for (const [name, { file }] of Object.entries(compose.secrets)) assert.ok((await stat(join(secrets, basename(file))).catch(() => undefined))?.isFile(), `no ${file} for the secret ${name}`);
      const before = await readFile(join(secrets, 'tokenhub_store_key'), 'utf8');
      assert.equal(Buffer.from(before.trim(), 'base64').length, 32);
      const { stdout } = await run(join(DEPLOY, 'make-secrets.sh'), [secrets]);
      assert.match(stdout, /tokenhub_store_key exists, kept/);
      assert.equal(await readFile(join(secrets, 'tokenhub_store_key'), 'utf8'), before);
    });

    it("Redis with compose's command: appendonly, the health check's PING for anyone, nothing else without the password", async () => {
      const [program, ...args] = compose.services.redis!.command!;
      assert.equal(program, 'redis-server');
      await mkdir(join(tmp, 'redis'));
      redis = await startRedisServer([...args.map(secretFile), '--dir', join(tmp, 'redis')]);
      // The health check's shell line (compose turns $$ into $), on this Redis's port.
      const [form, line] = compose.services.redis!.healthcheck!.test;
      assert.equal(form, 'CMD-SHELL');
      const check = (port: number): Promise<number> =>
        run('sh', ['-c', line!.replaceAll('$$', '$').replace('redis-cli', `redis-cli -p ${port}`)]).then(
          () => 0,
          (err: { code: number }) => err.code,
        );
      assert.equal(await check(redis.port), 0);
      assert.notEqual(await check(await freePort()), 0, 'healthy with no Redis');
      const anonymous = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 0, enableReadyCheck: false });
      try {
        await anonymous.connect();
        await assert.rejects(anonymous.get('tokenhub:check'), /NOPERM/);
      } finally {
        anonymous.disconnect();
      }
    });

    it('two instances on it hand out one token, fetched from the platform once, with no secret in their logs', async () => {
      assert.ok(redis, 'Redis did not start');
      const logs = new LogCapture();
      for (const name of TOKENHUBS) {
        const environment = compose.services[name]!.environment!;
        const env: Record<string, string> = {};
        for (const [key, value] of Object.entries(environment)) {
          const v = interpolate(value, { FEISHU_APP_ID: appId });
          // What tokenhub-start does with NAME_FILE: NAME from the file, trailing newlines dropped.
          if (key.endsWith('_FILE')) env[key.slice(0, -5)] = (await readFile(secretFile(v), 'utf8')).replace(/\n+$/, '');
          else env[key] = v;
        }
        assert.equal(env.REDIS_ADDRESS, 'redis:6379', 'the redis service, by its name');
        env.REDIS_ADDRESS = `127.0.0.1:${redis.port}`;
        const config = parse(configText) as { listen: unknown; apps: Record<string, Record<string, unknown>> };
        config.listen = { host: '127.0.0.1', port: 0 };
        for (const app of Object.values(config.apps)) app.baseUrl = sims.baseUrl('feishu');
        const hub = createHub(parseConfig(stringify(config), env), { logger: createLogger('info', logs) });
        hubs.push(hub);
      }
      const urls = await Promise.all(hubs.map((h) => h.listen()));
      const key = (await readFile(join(secrets, 'tokenhub_app_key'), 'utf8')).trim();
      const answers = await Promise.all(
        urls.map(async (url) => {
          const res = await fetch(`${url}/v1/apps/feishu-main/tokens/tenant_access_token`, { headers: { authorization: `Bearer ${key}` } });
          assert.equal(res.status, 200);
          return ((await res.json()) as { token: string }).token;
        }),
      );
      assert.equal(answers[0], answers[1]);
      assert.ok(sim.isValid(answers[0]!));
      assert.equal(sim.counters.count(), 1);
      // appendonly: Redis logs every write to its append-only files.
      assert.ok((await readdir(join(tmp, 'redis'), { recursive: true })).some((f) => f.includes('.aof')), 'no append-only file');
      for (const file of await readdir(secrets)) {
        const secret = (await readFile(join(secrets, file), 'utf8')).trim();
        if (file !== 'redis_acl') assert.ok(!logs.text.includes(secret), `${file} in the log`);
      }
      assert.ok(!logs.text.includes(answers[0]!), 'the token in the log');
      // A command the ACL refused would be logged as a warning or an error.
      const levels = logs.text.trim().split('\n').map((l) => (JSON.parse(l) as { level: string }).level);
      assert.deepEqual([...new Set(levels)], ['info'], logs.text);
    });
  });
});
