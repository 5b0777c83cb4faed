import assert from 'node:assert/strict';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

/** An answer as it came off the wire. */
export interface WireAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

const BASE = 'https://tokenhub.test/components/schemas/';

/**
 * Checks real answers against an OpenAPI document: the operation whose path template matches the
 * request, its response for the status (or `default`), the content type, the body against the
 * response's schema (ajv, JSON Schema 2020-12, formats checked), and on error answers the
 * `X-Tokenhub-Error` header against the codes the response lists. Remembers what it checked.
 */
export class AnswerChecker {
  readonly #doc: any;
  readonly #ajv: Ajv2020;
  readonly #compiled = new Map<string, ValidateFunction>();
  readonly #templates: { path: string; pattern: RegExp; literal: number }[];
  /** `method path status` of every answer checked. */
  readonly checked = new Set<string>();

  constructor(doc: unknown) {
    // Components become schemas of their own, referred to by absolute ids.
    this.#doc = JSON.parse(JSON.stringify(doc).replaceAll('"#/components/schemas/', `"${BASE}`));
    this.#ajv = new Ajv2020({ strict: true, allowUnionTypes: true, allErrors: true });
    addFormats.default(this.#ajv);
    for (const [name, schema] of Object.entries<Record<string, unknown>>(this.#doc.components.schemas)) this.#ajv.addSchema({ ...schema, $id: BASE + name });
    this.#templates = Object.keys(this.#doc.paths).map((path) => ({
      path,
      pattern: new RegExp(`^${path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{path\}/g, '.+').replace(/\{[^}]+\}/g, '[^/]+')}$`),
      literal: path.replace(/\{[^}]+\}/g, '').length,
    }));
  }

  /** The path template of `url` (its path, without the query), the most literal one where several match. */
  template(url: string): string {
    const path = new URL(url, 'http://x').pathname;
    const found = this.#templates.filter((t) => t.pattern.test(path)).sort((a, b) => b.literal - a.literal)[0];
    assert.ok(found, `no path of the document matches ${path}`);
    return found.path;
  }

  /** Throws unless `answer` is what the document says `method url` answers with its status. */
  check(method: string, url: string, answer: WireAnswer): void {
    const path = this.template(url);
    const where = `${method} ${url} → ${answer.status}`;
    const operation = this.#doc.paths[path][method.toLowerCase()];
    assert.ok(operation, `${where}: the document has no ${method} ${path}`);
    // Where an operation relays answers (the proxy's default), one without X-Tokenhub-Error is relayed, whatever its status.
    const relayed = operation.responses.default !== undefined && answer.headers['x-tokenhub-error'] === undefined;
    let response = relayed ? operation.responses.default : (operation.responses[String(answer.status)] ?? operation.responses.default);
    assert.ok(response, `${where}: not an answer the document gives ${method} ${path} (it gives ${Object.keys(operation.responses).join(', ')}): ${answer.text.slice(0, 300)}`);
    if (response.$ref) response = this.#doc.components.responses[response.$ref.split('/').pop()];
    const type = String(answer.headers['content-type'] ?? '').split(';')[0]!.trim();
    if (response.content === undefined) {
      assert.equal(answer.text, '', `${where}: the document gives this answer no body`);
    } else if (method !== 'HEAD' && !(answer.status === 204 || answer.status === 304)) {
      const key = Object.keys(response.content).find((k) => k === '*/*' || k.split(';')[0]!.trim() === type);
      assert.ok(key, `${where}: content type ${type} is not one of ${Object.keys(response.content).join(', ')}`);
      const schema = response.content[key].schema;
      if (schema !== undefined && Object.keys(schema).some((k) => k !== 'description')) {
        const body = /json/.test(type) ? parse(answer.text, where) : answer.text;
        this.validate(schema, body, where);
      }
    }
    const error = response.headers?.['X-Tokenhub-Error'];
    if (error !== undefined) {
      const code = answer.headers['x-tokenhub-error'];
      assert.ok(error.schema.enum.includes(code), `${where}: X-Tokenhub-Error ${String(code)} is not one of ${error.schema.enum.join(', ')}`);
      assert.equal(parse(answer.text, where).error.code, code, `${where}: the header and the body name other codes`);
    }
    this.checked.add(`${method.toLowerCase()} ${path} ${answer.status}`);
  }

  /** Throws unless `value` is valid against `schema` (a schema of the document, or a component by name). */
  validate(schema: Record<string, unknown> | string, value: unknown, where: string): void {
    const resolved = typeof schema === 'string' ? { $ref: BASE + schema } : schema;
    const key = JSON.stringify(resolved);
    let validate = this.#compiled.get(key);
    if (validate === undefined) this.#compiled.set(key, (validate = this.#ajv.compile(resolved)));
    if (!validate(value)) {
      const errors = (validate.errors ?? []).map((e) => `${e.instancePath || '(body)'} ${e.message ?? ''} ${JSON.stringify(e.params)}`);
      assert.fail(`${where}: the answer does not match the document:\n  ${errors.join('\n  ')}\n${JSON.stringify(value).slice(0, 2000)}`);
    }
  }

  /** Every operation of the document, as `method path`. */
  operations(): string[] {
    return Object.entries<Record<string, unknown>>(this.#doc.paths).flatMap(([path, item]) => Object.keys(item).map((m) => `${m} ${path}`));
  }
}

function parse(text: string, where: string): any {
  try {
    return JSON.parse(text);
  } catch {
    assert.fail(`${where}: not JSON: ${text.slice(0, 200)}`);
  }
}
