import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';
import { decrypt, getSignature } from '@wecom/crypto';

/**
 * A callback URL for the WeChat Open Platform and WeCom simulators' pushes, checking them with
 * WeCom's own `@wecom/crypto` (not with anything of the simulators): the `msg_signature` over
 * the body's `Encrypt` (or the `echostr`), then the decryption and the receive id.
 */

/** One request the receiver got, as checked. */
export interface Received {
  readonly method: string;
  readonly query: URLSearchParams;
  readonly body: string;
  /** The outer XML's fields (`AppId`/`ToUserName`, `Encrypt`, …). */
  readonly outer: Record<string, string>;
  /** Whether `msg_signature` matched. */
  readonly signed: boolean;
  /** The decrypted message (the echostr's plaintext for a URL check). */
  readonly plaintext: string;
  /** The receive id sealed with it. */
  readonly receiveId: string;
  /** The decrypted message's fields. */
  readonly message: Record<string, string>;
}

export interface ReceiverOptions {
  /** What to answer; default: the echostr's plaintext for a GET, `success` for a POST (403 when the signature is wrong). */
  reply?: (received: Received) => { status?: number; body: string };
}

/** The children of an `<xml>` document: CDATA sections or plain text. */
export function parseXml(text: string): Record<string, string> {
  const inner = /^\s*<xml>([\s\S]*)<\/xml>\s*$/.exec(text)?.[1] ?? '';
  const fields: Record<string, string> = {};
  for (const m of inner.matchAll(/<(\w+)>((?:<!\[CDATA\[[\s\S]*?\]\]>)+|[^<]*)<\/\1>/g)) {
    const raw = m[2]!;
    fields[m[1]!] = raw.startsWith('<![CDATA[') ? [...raw.matchAll(/<!\[CDATA\[([\s\S]*?)\]\]>/g)].map((c) => c[1]).join('') : raw;
  }
  return fields;
}

export async function wxReceiver(t: TestContext, settings: { token: string; encodingAESKey: string }, options: ReceiverOptions = {}): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const query = new URL(req.url ?? '/', 'http://x').searchParams;
      const outer = req.method === 'POST' ? parseXml(body) : {};
      const sealed = req.method === 'GET' ? (query.get('echostr') ?? '') : (outer.Encrypt ?? '');
      const signed = getSignature(settings.token, query.get('timestamp') ?? '', query.get('nonce') ?? '', sealed) === query.get('msg_signature');
      let plaintext = '';
      let receiveId = '';
      try {
        ({ message: plaintext, id: receiveId } = decrypt(settings.encodingAESKey, sealed));
      } catch {
        /* left empty: the test sees it */
      }
      const entry: Received = { method: req.method ?? '', query, body, outer, signed, plaintext, receiveId, message: req.method === 'POST' ? parseXml(plaintext) : {} };
      received.push(entry);
      const answer = options.reply?.(entry) ?? (signed ? { body: req.method === 'GET' ? plaintext : 'success' } : { status: 403, body: 'bad signature' });
      res.statusCode = answer.status ?? 200;
      res.setHeader('content-type', 'text/plain');
      res.end(answer.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/apps/x/events?from=sim`, received };
}
