// Builds dist/esm (ES modules) and dist/cjs (CommonJS), each with its declarations, from a clean
// dist/. npm runs it from the package's folder; the server's build runs it too (scripts/build.js).
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
rmSync('dist', { recursive: true, force: true });
for (const project of ['tsconfig.json', 'tsconfig.cjs.json']) execFileSync(process.execPath, [tsc, '-p', project], { stdio: 'inherit' });
// The package is "type": "module": without this marker Node would read dist/cjs's .js files as ES modules.
writeFileSync('dist/cjs/package.json', '{ "type": "commonjs" }\n');
