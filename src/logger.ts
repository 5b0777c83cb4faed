import pretty from 'pino-pretty';
import { pino, stdTimeFunctions, type DestinationStream, type Logger, type LoggerOptions } from 'pino';

/** Paths that could ever hold a secret, a client key or a token; censored whatever logs them. */
const REDACT = [
  'req.headers.authorization',
  'req.headers["x-tokenhub-key"]',
  '*.appSecret',
  '*.secret',
  '*.token',
  '*.key',
  '*.encryptionKey',
  '*.previousEncryptionKeys',
  '*.password',
  '*.access_token',
  '*.refresh_token',
];

/** How log lines are written: JSON lines (for a log pipeline), or coloured text for a terminal. */
export type LogFormat = 'json' | 'pretty';

/**
 * tokenhub's logger. JSON lines carry the level's name (`"level":"info"`) and an ISO time
 * (`"time":"2026-12-02T09:00:00.000Z"`), so that people and log pipelines read them alike;
 * `pretty` writes one coloured line per entry (pino-pretty), for a terminal.
 *
 * @example
 * const log = createLogger('info', undefined, process.stdout.isTTY ? 'pretty' : 'json');
 * log.info({ app: 'feishu-main' }, 'token refreshed');
 */
export function createLogger(level: string = 'info', destination?: NodeJS.WritableStream, format: LogFormat = 'json'): Logger {
  const options: LoggerOptions = { level, base: { service: 'tokenhub' }, redact: { paths: REDACT, censor: '[redacted]' } };
  if (format === 'pretty') {
    // pino-pretty reads pino's numeric levels and epoch times and prints names and local times itself.
    const stream = pretty({ destination: destination ?? process.stdout, colorize: destination === undefined && process.stdout.isTTY === true, sync: true, ignore: 'pid,hostname,service' });
    return pino(options, stream);
  }
  return pino({ ...options, timestamp: stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) } }, destination as DestinationStream);
}
