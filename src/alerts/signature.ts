import { createHmac, timingSafeEqual } from 'node:crypto';

/** The header an alert's signature travels in. */
export const SIGNATURE_HEADER = 'x-tokenhub-signature';

/** `sha256=<hex HMAC-SHA256 of body with secret>`: the value of `X-Tokenhub-Signature`. */
export function signAlert(body: string | Buffer, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/**
 * Whether `header` is the signature of `body` (the raw bytes received, before any JSON parsing)
 * with `secret`; compared in constant time. For receivers of tokenhub's alerts.
 *
 * @example
 * ```ts
 * import { verifyAlertSignature } from 'tokenhub';
 * if (!verifyAlertSignature(rawBody, req.headers['x-tokenhub-signature'], process.env.ALERT_SECRET!)) return res.writeHead(401).end();
 * ```
 */
export function verifyAlertSignature(body: string | Buffer, header: string | string[] | undefined, secret: string): boolean {
  if (typeof header !== 'string') return false;
  const expected = Buffer.from(signAlert(body, secret));
  const given = Buffer.from(header.trim());
  return given.length === expected.length && timingSafeEqual(given, expected);
}
