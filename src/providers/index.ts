import type { Dispatcher } from 'undici';
import type { Provider } from '../core/types.js';
import type { AppConfig } from '../config.js';
import { ConfigError } from '../core/errors.js';
import { platformNamed } from '../platforms/index.js';

/** The provider for one configured app, made by its platform's descriptor. */
export function createProvider(id: string, app: AppConfig, options: { dispatcher?: Dispatcher } = {}): Provider {
  // Callers that skip validateConfig get the same errors it would give.
  const platform = platformNamed(String((app as { platform?: unknown }).platform));
  if (platform === undefined) throw new ConfigError([`apps.${id}.platform: ${String((app as { platform?: unknown }).platform)} is not a platform`]);
  const issues = (platform.validate?.(app) ?? []).map((issue) => `apps.${id}.${issue.key}: ${issue.message}`);
  if (issues.length > 0) throw new ConfigError(issues);
  return platform.createProvider(app, { id, ...options });
}
