import { createHash } from 'node:crypto';

/**
 * Store keys. They name a platform, an app id and a short hash of the secret, so that a
 * new secret starts a new namespace and no key ever holds a secret or a token.
 */
export function appFingerprint(platform: string, appId: string, secret: string): string {
  const secretHash = createHash('sha256').update(secret).digest('hex').slice(0, 16);
  return `${platform}:${appId}:${secretHash}`;
}

export function slotKey(fingerprint: string, kind: string, tenantKey: string | undefined): string {
  return tenantKey === undefined ? `tok:${fingerprint}:${kind}` : `tok:${fingerprint}:${kind}:${tenantKey}`;
}

export function stateKey(fingerprint: string, name: string): string {
  return `state:${fingerprint}:${name}`;
}

/**
 * The namespace of an app's grants: the platform and the app id, without the secret's hash. A
 * grant is a tenant's authorization of the app, not of its secret: after a new secret the app
 * must still find every authorization (lost, each tenant would have to authorize again).
 */
export function grantScope(platform: string, appId: string): string {
  return `${platform}:${appId}`;
}

export function grantKey(scope: string, name: string): string {
  return `grant:${scope}:${name}`;
}
