import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { FeishuSim, type FeishuSimOptions } from '../../src/sim/index.js';

/** What a business route of {@link BusinessSim} received. */
export interface Received {
  method: string;
  path: string;
  query: string;
  headers: Record<string, string | string[] | undefined>;
  bytes: number;
  sha256: string;
  text: string;
}

/**
 * The Feishu simulator plus business routes a proxy test needs: an echo of everything received
 * (headers and body bytes included), answers with any status and code, large and slow bodies, and
 * a platform that hangs or drops the connection. Every route checks the bearer token as Feishu does.
 */
export class BusinessSim extends FeishuSim {
  /** Every call to a test route, in order. */
  readonly calls: Received[] = [];
  /** Bytes of the current upload received so far (for the streaming test). */
  uploaded = 0;
  #release: (() => void) | undefined;

  constructor(options: FeishuSimOptions) {
    super(options);
  }

  /** Lets a held `/open-apis/test/drip` answer finish. */
  release(): void {
    this.#release?.();
  }

  override register(app: FastifyInstance): void {
    super.register(app);
    const prefix = app.prefix;
    app.register(async (scope) => {
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser('*', (_req, _payload, done) => done(null));

      scope.all('/open-apis/test/echo', async (req, reply) => {
        const received = await this.#receive(req, prefix);
        if (!this.#authorized(req, reply)) return reply;
        return reply
          .header('x-upstream', 'yes')
          .header('x-hop-answer', 'must-not-pass')
          .header('connection', 'x-hop-answer')
          .header('keep-alive', 'timeout=1234')
          .header('set-cookie', ['a=1; Path=/', 'b=2; Path=/'])
          .code(201)
          .send({ code: 0, msg: 'success', data: received });
      });

      scope.all<{ Params: { status: string }; Querystring: { code?: string; gzip?: string } }>('/open-apis/test/status/:status', async (req, reply) => {
        await this.#receive(req, prefix);
        if (!this.#authorized(req, reply)) return reply;
        const body = JSON.stringify({ code: Number(req.query.code ?? 0), msg: 'as asked' });
        void reply.code(Number(req.params.status)).header('content-type', 'application/json; charset=utf-8');
        return req.query.gzip === undefined ? reply.send(body) : reply.header('content-encoding', 'gzip').send(gzipSync(body));
      });

      scope.get<{ Querystring: { n: string } }>('/open-apis/test/bytes', async (req, reply) => {
        if (!this.#authorized(req, reply)) return reply;
        return reply.header('content-type', 'application/octet-stream').send(pattern(Number(req.query.n)));
      });

      scope.get<{ Querystring: { n: string } }>('/open-apis/test/drip', async (req, reply) => {
        if (!this.#authorized(req, reply)) return reply;
        const n = Number(req.query.n);
        const released = new Promise<void>((resolve) => (this.#release = resolve));
        reply.hijack();
        reply.raw.writeHead(200, { 'content-type': 'application/json', 'content-length': String(2 * n) });
        reply.raw.write(pattern(n));
        await released;
        reply.raw.end(pattern(n));
        return reply;
      });

      scope.post('/open-apis/test/upload', async (req, reply) => {
        this.uploaded = 0;
        const hash = createHash('sha256');
        for await (const chunk of req.raw) {
          this.uploaded += (chunk as Buffer).length;
          hash.update(chunk as Buffer);
        }
        if (!this.#authorized(req, reply)) return reply;
        return { code: 0, data: { bytes: this.uploaded, sha256: hash.digest('hex') } };
      });

      scope.get('/open-apis/test/hang', async (req, reply) => {
        await this.#receive(req, prefix);
        reply.hijack();
        return reply;
      });

      scope.get('/open-apis/test/reset', async (req, reply) => {
        await this.#receive(req, prefix);
        reply.hijack();
        req.raw.socket.destroy();
        return reply;
      });
    });
  }

  async #receive(req: FastifyRequest, prefix: string): Promise<Received> {
    const hash = createHash('sha256');
    const chunks: Buffer[] = [];
    let bytes = 0;
    for await (const chunk of req.raw) {
      bytes += (chunk as Buffer).length;
      hash.update(chunk as Buffer);
      if (bytes <= 64 * 1024) chunks.push(chunk as Buffer);
    }
    const url = req.raw.url ?? '';
    const q = url.indexOf('?');
    const received: Received = {
      method: req.method,
      path: (q === -1 ? url : url.slice(0, q)).slice(prefix.length),
      query: q === -1 ? '' : url.slice(q + 1),
      headers: req.headers,
      bytes,
      sha256: hash.digest('hex'),
      text: bytes <= 64 * 1024 ? Buffer.concat(chunks).toString('utf8') : '',
    };
    this.calls.push(received);
    return received;
  }

  #authorized(req: FastifyRequest, reply: FastifyReply): boolean {
    const token = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (token !== undefined && this.isValid(token)) return true;
    void reply.code(400).send({ code: 99991663, msg: 'Invalid access token for authorization. Please make a request with token attached.' });
    return false;
  }
}

/** `n` deterministic bytes that are not all alike. */
export function pattern(n: number, seed = 0): Buffer {
  const buf = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) buf[i] = (i * 31 + seed + (i >> 10)) & 0xff;
  return buf;
}

export const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
