// Runs every benchmark in bench/ in turn: `npm run bench` (or `npm run bench -- cached-reads`).
import { readdir } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';

const only = process.argv.slice(2);
const files = (await readdir(new URL('.', import.meta.url))).filter((f) => f.endsWith('.ts') && f !== 'run.ts');
for (const file of files) {
  const name = file.replace(/\.ts$/, '');
  if (only.length > 0 && !only.includes(name)) continue;
  console.log(`\n## ${name}`);
  const run = spawnSync(process.execPath, ['--import', 'tsx', new URL(file, import.meta.url).pathname], { stdio: 'inherit' });
  if (run.status !== 0) process.exitCode = 1;
}
