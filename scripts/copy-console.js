// The console's page, script and styles are served from dist/server/console: tsc copies only
// what it compiles, so the build copies them. npm runs it from the package root.
import { cpSync, rmSync } from 'node:fs';

rmSync('dist/server/console', { recursive: true, force: true });
cpSync('src/server/console', 'dist/server/console', { recursive: true });
