#!/usr/bin/env node
import { createHash, randomBytes } from 'node:crypto';
import { Command, InvalidArgumentError } from 'commander';
import { loadConfigFile } from '../config.js';
import { ConfigError } from '../core/errors.js';
import { createHub, type Hub } from '../hub.js';
import type { Logger } from 'pino';
import { createLogger } from '../logger.js';
import { PLATFORM_NAMES } from '../platforms/index.js';
import { runDemo } from './demo.js';
import { runSim } from './sim.js';

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
      logger = createLogger(config.log.level);
      hub = createHub(config, { logger });
      // Before the ready line: a signal sent on reading it must find its handler (SIGHUP's default ends the process).
      const log = logger;
      const running = hub;
      onShutdown(() => running.close(), {
        info: (msg, fields) => log.info(fields, msg),
        warn: (msg, fields) => log.warn(fields, msg),
        flush: () => log.flush(),
      });
      const url = await hub.listen();
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
 * second signal exits at once. SIGHUP would end the process by default: until config reload
 * exists it is logged and ignored.
 */
function onShutdown(close: () => Promise<void>, log: SignalLog = STDERR_LOG): void {
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
  process.on('SIGHUP', () => log.warn('SIGHUP ignored: reloading the config is not supported yet; restart to apply a new one', { signal: 'SIGHUP' }));
}

await program.parseAsync(process.argv);
