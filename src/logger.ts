import { pino, type DestinationStream, type Logger } from 'pino';

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

export function createLogger(level: string = 'info', destination?: NodeJS.WritableStream): Logger {
  return pino({ level, base: { service: 'tokenhub' }, redact: { paths: REDACT, censor: '[redacted]' } }, destination as DestinationStream);
}
