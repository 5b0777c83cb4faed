import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ALERT_EVENTS } from './alerts/events.js';
import { ConfigError } from './core/errors.js';
import { PLATFORM_NAMES, platformOf, platforms, type AnyAppConfig } from './platforms/index.js';
import { DEFAULT_SERVER_LIMITS } from './server/limits.js';
import { DEFAULT_PROXY_OPTIONS, WITHHELD_HEADERS } from './server/proxy-options.js';
import { ENCRYPTION_KEY_HINT, parseEncryptionKey } from './stores/crypto.js';

/** Every `platform` value an app may have, from the platform registry. */
export const PLATFORMS: readonly string[] = PLATFORM_NAMES;
export type Platform = AnyAppConfig['platform'];

const text = z.string().min(1, 'must not be empty');

// One strict schema per platform name, each from the platform's descriptor.
const appSchema = z.discriminatedUnion(
  'platform',
  platforms.flatMap((d) => d.schemas) as unknown as [z.ZodObject<{ platform: z.ZodLiteral<string> }>, ...z.ZodObject<{ platform: z.ZodLiteral<string> }>[]],
) as unknown as z.ZodType<AnyAppConfig>;

const encryptionKeyText = z.string().refine((v) => parseEncryptionKey(v) !== undefined, ENCRYPTION_KEY_HINT);
const node = z.strictObject({ host: text, port: z.number().int().min(1).max(65535) });

/** Options every persistent store shares. */
const persistent = {
  /** 32 bytes (base64 or hex), normally `${ENV}`: encrypts every value at rest. */
  encryptionKey: encryptionKeyText.optional(),
  /** Keys of earlier rotations: still decrypt, never encrypt; values under them are encrypted again at start. */
  previousEncryptionKeys: z.array(encryptionKeyText).optional(),
  /** `none`, written out, is the only way to keep values in plain text (a warning is logged at start). */
  encryption: z.literal('none', { error: 'the only value is none (to store tokens in plain text); otherwise give encryptionKey' }).optional(),
  /** How long one instance may spend fetching a token before another may take over (the lease). */
  leaseMs: z.number().int().min(100, 'must be at least 100').optional(),
};

const storeSchema = z
  .discriminatedUnion('type', [
    z.strictObject({ type: z.literal('memory'), leaseMs: persistent.leaseMs }),
    z.strictObject({ type: z.literal('file'), path: text, ...persistent }),
    z.strictObject({
      type: z.literal('redis'),
      url: z.string().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL').optional(),
      keyPrefix: z.string().regex(/^[^{}]*$/, 'must not contain { or } (they would break the hash tags)').default('tokenhub:'),
      sentinels: z.array(node).min(1, 'must list at least one sentinel').optional(),
      name: text.optional(),
      cluster: z.array(node).min(1, 'must list at least one node').optional(),
      password: text.optional(),
      ...persistent,
    }),
  ])
  .check((ctx) => {
    const store = ctx.value;
    if (store.type !== 'memory' && store.previousEncryptionKeys !== undefined && store.encryptionKey === undefined) {
      ctx.issues.push({ code: 'custom', input: store, path: ['encryptionKey'], message: 'required with previousEncryptionKeys (the new key)' });
    } else if (store.type !== 'memory' && store.encryptionKey === undefined && store.encryption !== 'none') {
      ctx.issues.push({
        code: 'custom',
        input: store,
        path: ['encryptionKey'],
        message: `required for a ${store.type} store (32 bytes, base64 or hex, e.g. \${TOKENHUB_STORE_KEY}); or write \`encryption: none\` to store tokens in plain text`,
      });
    }
    if (store.type !== 'memory' && store.encryption === 'none' && store.encryptionKey !== undefined) {
      ctx.issues.push({ code: 'custom', input: store, path: ['encryption'], message: 'none contradicts encryptionKey: give one of them' });
    }
    if (store.type === 'redis') {
      const modes = [store.url, store.sentinels, store.cluster].filter((m) => m !== undefined).length;
      if (modes !== 1) ctx.issues.push({ code: 'custom', input: store, path: ['url'], message: 'give exactly one of url, sentinels (with name) and cluster' });
      if (store.sentinels !== undefined && store.name === undefined) ctx.issues.push({ code: 'custom', input: store, path: ['name'], message: 'the master name is required with sentinels' });
      if (store.sentinels === undefined && store.name !== undefined) ctx.issues.push({ code: 'custom', input: store, path: ['name'], message: 'only with sentinels' });
    }
  });

const clientSchema = z
  .strictObject({
    name: text,
    key: z.string().min(16, 'must be at least 16 characters').optional(),
    keySha256: z.string().regex(/^[0-9a-f]{64}$/i, 'must be 64 hex characters').optional(),
    apps: z.array(text).min(1, 'must name at least one app (or "*")'),
    /** Reports of rejected tokens (and refused tenant keys) this client may make per minute. */
    reportsPerMinute: z.number().int().min(1, 'must be at least 1').optional(),
    /** Page signatures (`/jsapi/signature`, `/jsapi/card-signature`) this client may ask for per minute. */
    signaturesPerMinute: z.number().int().min(1, 'must be at least 1').optional(),
    /** May also use the operations routes (`/v1/admin/*`) and the web console. */
    admin: z.boolean().optional(),
  })
  .check((ctx) => {
    if ((ctx.value.key === undefined) === (ctx.value.keySha256 === undefined)) {
      ctx.issues.push({ code: 'custom', input: ctx.value, path: ['key'], message: 'give exactly one of key and keySha256' });
    }
  });

/** Where alerts go: each receiver gets a signed JSON POST per change of a token's state. */
const alertSchema = z.strictObject({
  url: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }),
  /** The key of the HMAC-SHA256 in `X-Tokenhub-Signature`; normally `${ENV}`. */
  secret: z.string().min(16, 'must be at least 16 characters'),
  /** The events this receiver wants (default: all). */
  events: z.array(z.enum(ALERT_EVENTS, `must be one of ${ALERT_EVENTS.join(', ')}`)).min(1, 'must name at least one event (or leave it out for all)').optional(),
});

const auditSchema = z.strictObject({
  /** The file audit lines are appended to (created if missing; reopened on SIGHUP, for log rotation). */
  path: text,
  /**
   * The key of the HMAC that makes a token's id; the same key gives the same ids across restarts
   * and instances. Default: a random key per process.
   */
  tokenIdKey: z.string().min(16, 'must be at least 16 characters').optional(),
});

const configSchema = z.strictObject({
  listen: z.strictObject({ host: text.default('127.0.0.1'), port: z.number().int().min(0).max(65535).default(8700) }).default({ host: '127.0.0.1', port: 8700 }),
  store: storeSchema.default({ type: 'memory' }),
  log: z
    .strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      /** `json` lines for a log pipeline, `pretty` (coloured, one line per entry) for a terminal. */
      format: z.enum(['json', 'pretty']).default('json'),
    })
    .default({ level: 'info', format: 'json' }),
  upstream: z.strictObject({ timeoutMs: z.number().int().positive().default(5000) }).default({ timeoutMs: 5000 }),
  proxy: z
    .strictObject({
      connectTimeoutMs: z.number().int().positive().default(DEFAULT_PROXY_OPTIONS.connectTimeoutMs),
      headersTimeoutMs: z.number().int().positive().default(DEFAULT_PROXY_OPTIONS.headersTimeoutMs),
      bodyTimeoutMs: z.number().int().positive().default(DEFAULT_PROXY_OPTIONS.bodyTimeoutMs),
      bufferLimitBytes: z.number().int().min(0).max(64 * 1024 * 1024).default(DEFAULT_PROXY_OPTIONS.bufferLimitBytes),
      // Only headers withheld by default can be named: every other one is forwarded anyway.
      forwardHeaders: z.array(z.string().toLowerCase().pipe(z.enum(WITHHELD_HEADERS, `must be one of ${WITHHELD_HEADERS.join(', ')}`))).default([]),
    })
    .default({ ...DEFAULT_PROXY_OPTIONS, forwardHeaders: [] }),
  server: z
    .strictObject({
      headersTimeoutMs: z.number().int().positive().default(DEFAULT_SERVER_LIMITS.headersTimeoutMs),
      requestTimeoutMs: z.number().int().positive().default(DEFAULT_SERVER_LIMITS.requestTimeoutMs),
      keepAliveTimeoutMs: z.number().int().positive().default(DEFAULT_SERVER_LIMITS.keepAliveTimeoutMs),
      maxConnections: z.number().int().positive().default(DEFAULT_SERVER_LIMITS.maxConnections),
      eventsTimeoutMs: z.number().int().positive().default(DEFAULT_SERVER_LIMITS.eventsTimeoutMs),
    })
    .check((ctx) => {
      // Node refuses a headers timeout longer than the request timeout.
      if (ctx.value.headersTimeoutMs > ctx.value.requestTimeoutMs) {
        ctx.issues.push({ code: 'custom', input: ctx.value, path: ['headersTimeoutMs'], message: 'must not be longer than server.requestTimeoutMs' });
      }
    })
    .default({ ...DEFAULT_SERVER_LIMITS }),
  clients: z.array(clientSchema).min(1, 'must list at least one client'),
  alerts: z.array(alertSchema).default([]),
  audit: auditSchema.optional(),
  apps: z.record(z.string().regex(/^[A-Za-z0-9][\w.-]{0,63}$/, 'app ids are letters, digits, _ . - (at most 64)'), appSchema),
});

export type Config = z.infer<typeof configSchema>;
export type AppConfig = AnyAppConfig;
export type StoreConfig = z.infer<typeof storeSchema>;

/** A client as the server keeps it: the SHA-256 of its key, never the key. */
export interface ClientEntry {
  name: string;
  keySha256: Buffer;
  apps: readonly string[];
  reportsPerMinute?: number;
  signaturesPerMinute?: number;
  /** May use `/v1/admin/*` and the web console (`clients[].admin: true`). */
  admin?: boolean;
}

export interface LoadedConfig extends Config {
  clientEntries: ClientEntry[];
}

export async function loadConfigFile(path: string, env: NodeJS.ProcessEnv = process.env): Promise<LoadedConfig> {
  let source: string;
  try {
    source = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError([`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`]);
  }
  return parseConfig(source, env);
}

/** Parses YAML (or JSON) config text, interpolates `${ENV}` and validates it. */
export function parseConfig(source: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  let raw: unknown;
  try {
    raw = parseYaml(source, { prettyErrors: true });
  } catch (err) {
    throw new ConfigError([`not valid YAML: ${(err as Error).message.split('\n')[0]}`]);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConfigError(['the config must be a mapping (listen, store, clients, apps)']);
  const missing: string[] = [];
  const interpolated = interpolate(raw, env, [], missing);
  if (missing.length > 0) throw new ConfigError(missing);
  return validateConfig(interpolated);
}

export function validateConfig(raw: unknown): LoadedConfig {
  const result = configSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(result.error.issues.map(describeIssue));
  const config = result.data;
  const issues: string[] = [];
  const seen = new Map<string, string>();
  const clientEntries = config.clients.map((client, i) => {
    const hash = client.key !== undefined ? createHash('sha256').update(client.key).digest('hex') : client.keySha256!.toLowerCase();
    const where = `clients[${i}]`;
    const first = seen.get(hash);
    if (first !== undefined) issues.push(`${where}.key: the same key as ${first}`);
    seen.set(hash, where);
    for (const [j, app] of client.apps.entries()) {
      if (app !== '*' && !(app in config.apps)) issues.push(`${where}.apps[${j}]: no app named ${JSON.stringify(app)}`);
    }
    return { name: client.name, keySha256: Buffer.from(hash, 'hex'), apps: client.apps,
      ...(client.reportsPerMinute === undefined ? {} : { reportsPerMinute: client.reportsPerMinute }),
      ...(client.signaturesPerMinute === undefined ? {} : { signaturesPerMinute: client.signaturesPerMinute }),
      ...(client.admin === true ? { admin: true } : {}),
    };
  });
  for (const [id, app] of Object.entries(config.apps)) issues.push(...appIssues(id, app));
  if (issues.length > 0) throw new ConfigError(issues);
  return { ...config, clientEntries };
}

/** What the app's platform finds wrong with its options. */
export function appIssues(id: string, app: AppConfig): string[] {
  return (platformOf(app).validate?.(app) ?? []).map((issue) => `apps.${id}.${issue.key}: ${issue.message}`);
}

/**
 * A configured refresh window the platform's rules contradict (wider than its "same token while"
 * rule). Checked when the hub is built, as before: a parsed config still loads.
 */
export function refreshRuleIssues(id: string, app: AppConfig): string[] {
  const { sameTokenWhileMs } = platformOf(app).rules(app);
  if (app.refreshAheadSeconds === undefined || sameTokenWhileMs === undefined || app.refreshAheadSeconds * 1000 <= sameTokenWhileMs) return [];
  return [`apps.${id}.refreshAheadSeconds: at most ${Math.floor(sameTokenWhileMs / 1000)} for ${app.platform}: an earlier refresh returns the same token`];
}

function interpolate(value: unknown, env: NodeJS.ProcessEnv, path: (string | number)[], missing: string[]): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
      const v = env[name];
      if (v === undefined) {
        missing.push(`${formatPath(path)}: environment variable ${name} is not set`);
        return '';
      }
      return v;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolate(v, env, [...path, i], missing));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v, env, [...path, k], missing)]));
  }
  return value;
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : out === '' ? String(part) : `.${String(part)}`;
  return out || '(top level)';
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const where = formatPath(issue.path);
  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys.map((k) => `${formatPath([...issue.path, k])}: unknown key`).join('; ');
    case 'invalid_union':
      if (issue.discriminator !== undefined && 'options' in issue && issue.options !== undefined) {
        return `${where}: must be one of ${issue.options.join(', ')}`;
      }
      return `${where}: ${issue.message}`;
    case 'invalid_type':
      return /received undefined$/.test(issue.message) ? `${where}: required` : `${where}: expected ${issue.expected}`;
    default:
      return `${where}: ${issue.message}`;
  }
}
