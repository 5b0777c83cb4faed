// deploy/tokenhub.service, checked by systemd's own tools (no systemd runs on these machines:
// the unit is verified and rated, never started; docs/deployment.md says so).
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { DEPLOY, execForm, one, readDockerfile } from './dockerfile.js';

const run = promisify(execFile);

function which(command: string): string | undefined {
  try {
    return execFileSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

const ANALYZE = which('systemd-analyze');
const SKIP = ANALYZE ? false : 'systemd-analyze is not installed (apt-get install systemd): the unit cannot be verified here';

/** The unit's [Service] settings: each key with every value it is given, in order. */
function serviceSettings(unit: string): Map<string, string[]> {
  const settings = new Map<string, string[]>();
  let section = '';
  for (const raw of unit.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    if (line.startsWith('[')) {
      section = line;
      continue;
    }
    if (section !== '[Service]') continue;
    const eq = line.indexOf('=');
    const key = line.slice(0, eq);
    settings.set(key, [...(settings.get(key) ?? []), line.slice(eq + 1)]);
  }
  return settings;
}

const INSTALLED_START = '/opt/tokenhub/bin/tokenhub-start';

describe('deploy/tokenhub.service', () => {
  let unit: string;
  let settings: Map<string, string[]>;
  let dir: string;
  let copy: string;
  before(async () => {
    unit = await readFile(join(DEPLOY, 'tokenhub.service'), 'utf8');
    settings = serviceSettings(unit);
    dir = await mkdtemp(join(tmpdir(), 'tokenhub-unit-'));
    // verify checks that ExecStart's program exists: the copy names deploy/start.sh, which
    // deploy/install.sh installs as /opt/tokenhub/bin/tokenhub-start.
    assert.ok(unit.includes(`ExecStart=${INSTALLED_START} `), `ExecStart is not ${INSTALLED_START}`);
    copy = join(dir, 'tokenhub.service');
    await writeFile(copy, unit.replace(`ExecStart=${INSTALLED_START} `, `ExecStart=${join(DEPLOY, 'start.sh')} `));
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('starts what the image starts, with the config path and the state dir the sample config uses', async () => {
    const dockerfile = await readDockerfile();
    const runtime = dockerfile.stages.at(-1)!;
    const image = [...execForm(one(runtime, 'ENTRYPOINT')), ...execForm(one(runtime, 'CMD'))];
    assert.deepEqual(settings.get('ExecStart'), [image.join(' ')]);
    assert.deepEqual(settings.get('StateDirectory'), ['tokenhub']);
    const sample = parse(await readFile(join(DEPLOY, 'config.file.yaml'), 'utf8')) as { store: { type: string; path: string } };
    // systemd sets STATE_DIRECTORY to /var/lib/tokenhub from StateDirectory=tokenhub.
    assert.deepEqual(sample.store, { ...sample.store, type: 'file', path: '${STATE_DIRECTORY}' });
  });

  it('has the hardening settings, and not MemoryDenyWriteExecute (V8 JIT)', () => {
    const expected: Record<string, string> = {
      DynamicUser: 'yes',
      ProtectSystem: 'strict',
      ProtectHome: 'yes',
      NoNewPrivileges: 'yes',
      PrivateTmp: 'yes',
      PrivateDevices: 'yes',
      LimitCORE: '0',
      CapabilityBoundingSet: '',
      RestrictAddressFamilies: 'AF_INET AF_INET6 AF_UNIX',
      ExecReload: '/bin/kill -HUP $MAINPID',
      KillSignal: 'SIGTERM',
      Restart: 'on-failure',
      UMask: '0077',
    };
    for (const [key, value] of Object.entries(expected)) assert.deepEqual(settings.get(key), [value], key);
    assert.deepEqual(settings.get('SystemCallFilter'), ['@system-service', '~@privileged']);
    assert.equal(settings.get('MemoryDenyWriteExecute'), undefined);
    assert.ok(settings.has('EnvironmentFile') || settings.has('LoadCredential'), 'secrets from EnvironmentFile= or LoadCredential=');
  });

  it('systemd-analyze verify finds nothing to say about it', { skip: SKIP }, async () => {
    // verify exits 0 on an unknown key or a bad value (it ignores the line): any output is a finding.
    const { stdout, stderr } = await run(ANALYZE!, ['verify', copy]);
    assert.equal(stdout + stderr, '');
    const broken = join(dir, 'broken.service');
    await writeFile(broken, (await readFile(copy, 'utf8')).replace('ProtectSystem=strict', 'ProtectSystem=stricter'));
    const said = await run(ANALYZE!, ['verify', broken]).then(
      ({ stdout: o, stderr: e }) => o + e,
      (err: { stdout: string; stderr: string }) => err.stdout + err.stderr,
    );
    assert.match(said, /protect system value/i, 'a bad value is reported (what the empty output above relies on)');
  });

  it('systemd-analyze security rates its exposure at most 2.0 of 10 ("OK")', { skip: SKIP }, async () => {
    const { stdout: help } = await run(ANALYZE!, ['security', '--help']);
    if (!help.includes('--offline')) return assert.fail('this systemd-analyze has no security --offline (systemd 250+ has)');
    // --threshold is on a scale of 100: above 20 it exits non-zero.
    const { stdout } = await run(ANALYZE!, ['security', '--offline=yes', '--threshold=20', '--no-pager', copy]);
    const level = /Overall exposure level for tokenhub\.service: (\d+\.\d)/.exec(stdout);
    assert.ok(level, stdout);
    assert.ok(Number(level[1]) <= 2, `exposure ${level[1]}`);
  });
});
