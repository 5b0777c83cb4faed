// The error table in src/core/errors.ts against the pages that document it (fastify's
// test/internals/errors.test.js checks its docs the same way).
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import type { ClientErrorCode, ErrorCode as ClientKnownCode } from '../../packages/client/src/errors.js';
import { ConfigError, ERRORS, TokenHubError, statusesOf, toCallerError, UpstreamError, type ErrorCode } from '../../src/core/errors.js';

const DOCS = new URL('../../docs/', import.meta.url);
const CODES = Object.keys(ERRORS) as ErrorCode[];
/** The client's own codes (a `Record` so that the compiler holds this list to `ClientErrorCode`). */
const CLIENT_CODES: Record<ClientErrorCode, true> = { TOKENHUB_CLIENT_UNREACHABLE: true, TOKENHUB_CLIENT_TIMEOUT: true, TOKENHUB_CLIENT_BAD_RESPONSE: true };
/**
 * The answer codes the client package's types name (packages/client writes them out, as it imports
 * nothing of the server; a `Record`, so that the compiler holds this list to the client's `ErrorCode`).
 */
const CLIENT_KNOWN: Record<ClientKnownCode, true> = {
  TOKENHUB_SHUTTING_DOWN: true,
  TOKENHUB_BAD_REQUEST: true,
  TOKENHUB_UNKNOWN_KIND: true,
  TOKENHUB_UNAUTHORIZED: true,
  TOKENHUB_FORBIDDEN: true,
  TOKENHUB_URL_NOT_ALLOWED: true,
  TOKENHUB_APP_NOT_FOUND: true,
  TOKENHUB_EVENT_REPLAYED: true,
  TOKENHUB_NOT_FOUND: true,
  TOKENHUB_GRANT_NOT_FOUND: true,
  TOKENHUB_GRANT_CONFLICT: true,
  TOKENHUB_PAYLOAD_TOO_LARGE: true,
  TOKENHUB_REQUEST_TIMEOUT: true,
  TOKENHUB_UNSUPPORTED_MEDIA_TYPE: true,
  TOKENHUB_PLATFORM_REFUSED: true,
  TOKENHUB_UPSTREAM_UNREACHABLE: true,
  TOKENHUB_PLATFORM_UNAVAILABLE: true,
  TOKENHUB_RATE_LIMITED: true,
  TOKENHUB_TICKET_PENDING: true,
  TOKENHUB_REFRESH_LIMITED: true,
  TOKENHUB_STORE_UNAVAILABLE: true,
  TOKENHUB_GRANTS_LOST: true,
  TOKENHUB_UPSTREAM_TIMEOUT: true,
  TOKENHUB_RELOAD_REFUSED: true,
  TOKENHUB_INTERNAL: true,
};

/** How docs/errors.md writes a code's statuses: the numbers, or `startup`. */
const documented = (code: ErrorCode): string[] => (ERRORS[code].startup ? ['startup'] : statusesOf(code).map(String)).sort();

/** The rows `| \`CODE\` | status | … |` of docs/errors.md: each code with the statuses of its rows. */
function rows(page: string): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const [, code, status] of page.matchAll(/^\| `(TOKENHUB_[A-Z_]+)` \| ([^|]+?) \|/gm)) found.set(code!, [...(found.get(code!) ?? []), status!].sort());
  return found;
}

describe('the error table', () => {
  it('docs/errors.md has a row for every code of the table, with the same statuses', async () => {
    const table = rows(await readFile(new URL('errors.md', DOCS), 'utf8'));
    for (const code of CODES) assert.deepEqual(table.get(code), documented(code), `${code} in docs/errors.md`);
  });

  it('every TOKENHUB_ code docs/errors.md names is in the table or is one of the client`s own', async () => {
    const page = await readFile(new URL('errors.md', DOCS), 'utf8');
    const named = new Set([...page.matchAll(/TOKENHUB_[A-Z][A-Z_]*/g)].map((m) => m[0]));
    const unknown = [...named].filter((code) => !(code in ERRORS) && !(code in CLIENT_CODES));
    assert.deepEqual(unknown, []);
    for (const code of Object.keys(CLIENT_CODES)) assert.ok(named.has(code), `${code} is not in docs/errors.md`);
  });

  it('the client package names every code tokenhub answers with (the table but its startup codes), and no other', () => {
    const answered = CODES.filter((code) => !ERRORS[code].startup).sort();
    assert.deepEqual(Object.keys(CLIENT_KNOWN).sort(), answered);
  });

  it('every other page that gives a code with a status gives one the table has', async () => {
    const wrong: string[] = [];
    for (const name of (await readdir(DOCS)).filter((f) => f.endsWith('.md') && f !== 'errors.md')) {
      const page = await readFile(new URL(name, DOCS), 'utf8');
      for (const [text, status, code] of page.matchAll(/\b(\d{3}) `?(TOKENHUB_[A-Z_]+)/g)) {
        if (!(code! in ERRORS) || !statusesOf(code as ErrorCode).includes(Number(status))) wrong.push(`${name}: ${text}`);
      }
    }
    assert.deepEqual(wrong, []);
  });

  it('each code has a status, a meaning and a fix, each meaning and fix one line', () => {
    for (const code of CODES) {
      const spec = ERRORS[code];
      assert.ok(Number.isInteger(spec.status) && spec.status >= 400 && spec.status < 600, code);
      for (const text of [spec.meaning, spec.fix]) assert.match(text, /^[^\n]{3,200}$/, code);
    }
  });
});

describe('TokenHubError', () => {
  it('takes its status from the table', () => {
    assert.equal(new TokenHubError('TOKENHUB_TICKET_PENDING', 'no ticket yet').statusCode, 503);
    assert.equal(new TokenHubError('TOKENHUB_FORBIDDEN', 'not yours').statusCode, 403);
    assert.equal(toCallerError(new UpstreamError('credentials', 'bad secret', { platform: 'p', platformCode: 1 }), 1000).statusCode, 502);
  });

  it("takes one of a code's further statuses only where the table lists it", () => {
    assert.equal(new TokenHubError('TOKENHUB_RATE_LIMITED', 'over budget', { status: 429 }).statusCode, 429);
    assert.throws(() => new TokenHubError('TOKENHUB_FORBIDDEN', 'not yours', { status: 429 }), /TOKENHUB_FORBIDDEN is never answered with 429/);
  });

  it('ConfigError keeps its code, name, issues and message', () => {
    const err = new ConfigError(['apps.a.platform: nope', 'listen.port: must be a number']);
    assert.ok(err instanceof TokenHubError);
    assert.deepEqual([err.name, err.code, err.statusCode], ['ConfigError', 'TOKENHUB_CONFIG_INVALID', 500]);
    assert.deepEqual(err.issues, ['apps.a.platform: nope', 'listen.port: must be a number']);
    assert.equal(err.message, 'invalid config: apps.a.platform: nope; listen.port: must be a number');
  });
});
