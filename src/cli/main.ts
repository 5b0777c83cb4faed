#!/usr/bin/env node
import { createHash, randomBytes } from 'node:crypto';
import { Command, InvalidArgumentError } from 'commander';
import { loadConfigFile } from '../config.js';
import { ConfigError } from '../core/errors.js';
import { createHub, type Hub } from '../hub.js';
import type { Logger } from 'pino';
import { createLogger } from '../logger.js';
import { PLATFORM_NAMES } from '../platforms/index.js';
import { checkConfig, checkReport } from './check.js';
import { exportGrants, importGrants } from './grants.js';
import { runDemo } from './demo.js';
import { runSim } from './sim.js';
import { DEFAULT_STATUS_URL, runStatus } from './status.js';

const program = new Command('tokenhub')
  .description(`A central access-token server for the platforms ${PLATFORM_NAMES.join(', ')}`)
  .showHelpAfterError();

program
  .command('serve')
  .description('run the token server')
  .option('-c, --config <file>', 'config file (YAML or JSON); or set TOKENHUB_CONFIG')
  .action(async (opts: { config?: string }) => {
    const file = opts.config ?? process.env.TOKENHUB_CONFIG;
    if (!file) fail('no config: pass --config FILE or set TOKENHUB_CONFIG');
    let hub: Hub;
    let logger: Logger;
    try {
      const config = await loadConfigFile(file);
      logger = createLogger(config.log.level, undefined, config.log.format);
      hub = createHub(config, { logger, loadConfig: () => loadConfigFile(file) });
      const url = await hub.listen();
      // Before the ready line: a signal sent on seeing it must find its handler (a SIGHUP without one ends the process).
      const started = hub;
      const log = logger;
      onShutdown(
        () => started.close(),
        {
          info: (msg, fields) => log.info(fields, msg),
          warn: (msg, fields) => log.warn(fields, msg),
          flush: () => log.flush(),
        },
        // The hub logs what the reload did, or why it refused it.
        () => void started.reload().catch(() => {}),
      );
      logger.info({ url, apps: Object.keys(config.apps).length, clients: config.clients.length, store: config.store.type }, 'tokenhub ready');
    } catch (err) {
      fail(err instanceof ConfigError ? err.message : `cannot start: ${(err as Error).message}`);
    }
  });

program
  .command('sim')
  .description('run the platform simulators (the token APIs tokenhub talks to) on loopback')
  .option('-p, --port <port>', 'port', parsePort, 8710)
  .option('--host <host>', 'host', '127.0.0.1')
  .option('--lifetime <seconds>', 'token lifetime (7200 on the real platforms)', parsePositive, 7200)
  .action(async (opts: { port: number; host: string; lifetime: number }) => {
    const sim = await runSim(opts);
    onShutdown(() => sim.close());
  });

program
  .command('demo')
  .description('tokenhub with a bundled demo config against the simulators, offline (what `npm start` runs)')
  .option('-p, --port <port>', 'port of tokenhub', parsePort, 8700)
  .action(async (opts: { port: number }) => {
    const demo = await runDemo(opts);
    onShutdown(() => demo.close());
  });

program
  .command('status')
  .description('the admin status of a running tokenhub as a table: every app and token, upstream calls, the store (exit 2 when something is marked as an error)')
  .option('--url <url>', `tokenhub's URL; or set TOKENHUB_URL (default ${DEFAULT_STATUS_URL})`)
  .option('--key <key>', 'the key of a client with admin: true; or set TOKENHUB_KEY (kept out of the shell history and ps that way)')
  .option('--json', 'print the status as JSON instead')
  .action(async (opts: { url?: string; key?: string; json?: boolean }) => {
    const code = await runStatus(
      { url: opts.url ?? process.env.TOKENHUB_URL, key: opts.key ?? process.env.TOKENHUB_KEY, json: opts.json },
      (text) => process.stdout.write(text),
      (reason) => process.stderr.write(`tokenhub: ${reason}\n`),
    );
    process.exitCode = code;
  });

program
  .command('check')
  .description('validate a config and fetch one token per app (with a memory store); exit 1 naming each app that fails')
  .option('-c, --config <file>', 'config file (YAML or JSON); or set TOKENHUB_CONFIG')
  .action(async (opts: { config?: string }) => {
    const file = opts.config ?? process.env.TOKENHUB_CONFIG;
    if (!file) fail('no config: pass --config FILE or set TOKENHUB_CONFIG');
    let config;
    try {
      config = await loadConfigFile(file);
    } catch (err) {
      fail(err instanceof ConfigError ? err.message : `cannot read the config: ${(err as Error).message}`);
    }
    const checks = await checkConfig(config);
    process.stdout.write(checkReport(checks));
    const failed = checks.filter((c) => c.outcome === 'failed').map((c) => c.app);
    if (failed.length > 0) fail(`${failed.length} of ${checks.length} apps failed: ${failed.join(', ')}`);
    process.exit(0);
  });

const grants = program.command('grants').description("back up and restore the apps' grants (authorizer refresh tokens, permanent codes), encrypted with the store's key");
grants
  .command('export')
  .description('write every grant of the configured store to a file sealed with store.encryptionKey')
  .option('-c, --config <file>', 'config file (YAML or JSON); or set TOKENHUB_CONFIG')
  .requiredOption('-o, --out <file>', 'the backup file to write (mode 600)')
  .action(async (opts: { config?: string; out: string }) => {
    const count = await exportGrants(await configFor(opts.config), opts.out).catch(failWith);
    process.stdout.write(`tokenhub: ${count} grants written to ${opts.out}\n`);
  });
grants
  .command('import')
  .description('write the grants of a backup where the store has none of that name (the store\'s own are newer)')
  .option('-c, --config <file>', 'config file (YAML or JSON); or set TOKENHUB_CONFIG')
  .requiredOption('-i, --in <file>', 'the backup file to read')
  .action(async (opts: { config?: string; in: string }) => {
    const result = await importGrants(await configFor(opts.config), opts.in).catch(failWith);
    process.stdout.write(`tokenhub: ${result.restored} grants restored, ${result.kept} kept (the store had them), ${result.skipped} of apps no longer configured\n`);
  });

program
  .command('hash-key')
  .description('print the keySha256 of a client key (so that the config need not hold the key), or make a new key')
  .argument('[key]', 'the client key; a new random one when left out')
  .action((key?: string) => {
    const k = key ?? randomBytes(24).toString('base64url');
    if (!key) console.log(`key:       ${k}`);
    console.log(`keySha256: ${createHash('sha256').update(k).digest('hex')}`);
  });

function parsePort(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('must be a port number (0-65535)');
  return n;
}

function parsePositive(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('must be a positive whole number');
  return n;
}

/** The config named by `--config` or TOKENHUB_CONFIG, or the one-line reason it cannot be had. */
async function configFor(given: string | undefined): Promise<Awaited<ReturnType<typeof loadConfigFile>>> {
  const file = given ?? process.env.TOKENHUB_CONFIG;
  if (!file) fail('no config: pass --config FILE or set TOKENHUB_CONFIG');
  return loadConfigFile(file).catch(failWith);
}

function failWith(err: unknown): never {
  fail(err instanceof ConfigError ? err.message : (err as Error).message);
}

function fail(reason: string): never {
  process.stderr.write(`tokenhub: ${reason}\n`);
  process.exit(1);
}

/** Where the signal handling reports: the server's logger, or stderr for the other commands. */
interface SignalLog {
  info(msg: string, fields: Record<string, unknown>): void;
  warn(msg: string, fields: Record<string, unknown>): void;
  flush?(): void;
}

const STDERR_LOG: SignalLog = {
  info: (msg) => process.stderr.write(`tokenhub: ${msg}\n`),
  warn: (msg) => process.stderr.write(`tokenhub: ${msg}\n`),
};

/**
 * SIGTERM and SIGINT: stop taking requests, finish those in flight, close the store, exit 0; a
 * second signal exits at once. SIGHUP runs `reload` (the server reads its config again); where
 * there is none (sim, demo) it is logged and ignored, since by default it would end the process.
 */
function onShutdown(close: () => Promise<void>, log: SignalLog = STDERR_LOG, reload?: () => void): void {
  let closing = false;
  const stop = (signal: string): void => {
    if (closing) process.exit(1);
    closing = true;
    log.info('shutting down: finishing requests in flight', { signal });
    close().then(
      () => {
        log.info('stopped', { signal });
        log.flush?.();
        process.exit(0);
      },
      (err: unknown) => fail(`shutdown failed: ${(err as Error).message}`),
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => {
    if (closing) return;
    if (reload === undefined) return log.warn('SIGHUP ignored: only tokenhub serve reloads its config', { signal: 'SIGHUP' });
    log.info('SIGHUP: reloading the config', { signal: 'SIGHUP' });
    reload();
  });
}

await program.parseAsync(process.argv);
