import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

/** The repository's root and its deploy/ files. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const DEPLOY = fileURLToPath(new URL('../../deploy/', import.meta.url));

export interface Instruction {
  /** Upper case: RUN, COPY, ENV, … */
  readonly keyword: string;
  /** The rest, continuation lines joined. */
  readonly args: string;
}

export interface Stage {
  readonly from: string;
  readonly name: string | undefined;
  readonly instructions: readonly Instruction[];
}

export interface Dockerfile {
  /** ARGs before the first FROM, with their defaults. */
  readonly args: Readonly<Record<string, string>>;
  readonly stages: readonly Stage[];
}

/** Enough of the Dockerfile syntax for deploy/Dockerfile: comments, `\` continuations, stages. */
export function parseDockerfile(text: string): Dockerfile {
  const instructions: Instruction[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const continued = line.endsWith('\\');
    pending += (pending ? ' ' : '') + (continued ? line.slice(0, -1).trim() : line);
    if (continued) continue;
    const [keyword = '', ...rest] = pending.split(/\s+/);
    instructions.push({ keyword: keyword.toUpperCase(), args: rest.join(' ') });
    pending = '';
  }
  const args: Record<string, string> = {};
  const stages: { from: string; name: string | undefined; instructions: Instruction[] }[] = [];
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') {
      const [image = '', as, name] = ins.args.split(' ');
      stages.push({ from: image.replace(/^\$\{(\w+)\}$/, (_, arg: string) => args[arg] ?? `\${${arg}}`), name: as?.toUpperCase() === 'AS' ? name : undefined, instructions: [] });
    } else if (stages.length === 0) {
      if (ins.keyword === 'ARG') {
        const [name = '', value = ''] = ins.args.split('=');
        args[name] = value;
      }
    } else {
      stages.at(-1)!.instructions.push(ins);
    }
  }
  return { args, stages };
}

export async function readDockerfile(): Promise<Dockerfile> {
  return parseDockerfile(await readFile(`${DEPLOY}Dockerfile`, 'utf8'));
}

/** The instructions of one keyword in a stage. */
export function all(stage: Stage, keyword: string): string[] {
  return stage.instructions.filter((i) => i.keyword === keyword).map((i) => i.args);
}

/** The one instruction of a keyword in a stage (fails when there are none or several). */
export function one(stage: Stage, keyword: string): string {
  const found = all(stage, keyword);
  if (found.length !== 1) throw new Error(`expected one ${keyword} in the stage from ${stage.from}, found ${found.length}`);
  return found[0]!;
}

/** An exec-form argument (`["a", "b"]`), as the argv Docker runs. */
export function execForm(args: string): string[] {
  const parsed: unknown = JSON.parse(args);
  if (!Array.isArray(parsed) || !parsed.every((a) => typeof a === 'string')) throw new Error(`not an exec form: ${args}`);
  return parsed;
}

/** The command of `HEALTHCHECK [options] CMD [...]`, as the argv Docker runs. */
export function healthcheckCommand(args: string): string[] {
  const at = args.indexOf('CMD ');
  if (at < 0) throw new Error(`HEALTHCHECK without CMD: ${args}`);
  return execForm(args.slice(at + 4));
}

/**
 * A shell-form RUN line without its `--mount=…` flags, as words. Only plain words are accepted
 * (no quoting, no `&&`, `;`, `|`, `$`): then running the words is what `/bin/sh -c` would run.
 */
export function runWords(args: string): string[] {
  const words = args.split(/\s+/).filter((w) => !w.startsWith('--mount='));
  for (const w of words) if (/[;&|$'"`<>()\\]/.test(w)) throw new Error(`RUN is not plain words: ${args}`);
  return words;
}

/** `ENV A=1 B=2` (several lines merged) as a record. */
export function envOf(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of all(stage, 'ENV')) {
    for (const pair of line.split(/\s+/)) {
      const eq = pair.indexOf('=');
      if (eq <= 0) throw new Error(`ENV without NAME=value: ${line}`);
      env[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
  }
  return env;
}
