import { connect, type Socket } from 'node:net';

export interface RawAnswer {
  /** The status of the first answer, 0 when the server closed without one. */
  status: number;
  /** Everything the server sent. */
  text: string;
  /** The body of the first answer (after the blank line). */
  body: string;
}

/** Opens a TCP connection to the host and port of `url`. */
export function openSocket(url: string): Promise<Socket> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/**
 * Sends these exact bytes (no client library in between to fix the request up) and reads until
 * the server closes or one whole answer arrived.
 */
export async function rawRequest(url: string, bytes: string | Buffer, timeoutMs = 10_000): Promise<RawAnswer> {
  const socket = await openSocket(url);
  return new Promise((resolve, reject) => {
    let received = Buffer.alloc(0);
    const finish = (): void => {
      clearTimeout(timer);
      socket.destroy();
      const text = received.toString('latin1');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0);
      const split = text.indexOf('\r\n\r\n');
      resolve({ status, text, body: split === -1 ? '' : text.slice(split + 4) });
    };
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete answer within ${timeoutMs} ms; got: ${received.toString('latin1').slice(0, 300)}`));
    }, timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (complete(received)) finish();
    });
    socket.on('close', finish);
    socket.on('error', () => {});
    socket.write(bytes);
  });
}

/** Whether `data` holds one whole answer framed by Content-Length (chunked answers are read to the close). */
function complete(data: Buffer): boolean {
  const text = data.toString('latin1');
  const split = text.indexOf('\r\n\r\n');
  if (split === -1) return false;
  const length = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, split));
  if (length === null) return /\r\ntransfer-encoding: *chunked/i.test(text.slice(0, split)) ? text.endsWith('0\r\n\r\n') : false;
  return data.length - (Buffer.byteLength(text.slice(0, split + 4), 'latin1')) >= Number(length[1]);
}
