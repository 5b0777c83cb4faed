// `node scripts/check-engines.js [DIR] [PACKAGE_JSON]`: fails, naming each, when a package installed
// under DIR/node_modules (nested ones too) declares an engines.node that refuses a Node version
// PACKAGE_JSON (default DIR/package.json) says it runs on: the lowest of its engines.node, and the
// Node running this when that is in the range (what npm's EBADENGINE checks). Packages only the
// development needs (npm marks them dev) are held to devEngines.runtime.version instead.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import semver from 'semver';

const dir = process.argv[2] ?? '.';
const manifest = JSON.parse(readFileSync(process.argv[3] ?? join(dir, 'package.json'), 'utf8'));
const ranges = { production: manifest.engines?.node, development: manifest.devEngines?.runtime?.version ?? manifest.engines?.node };
for (const [use, range] of Object.entries(ranges)) {
  if (!semver.validRange(range)) {
    console.error(`check-engines: no valid Node range for ${use} (got ${JSON.stringify(range)})`);
    process.exit(2);
  }
}
/** The Node versions each range promises and this checks: its lowest, and the running one if it is in. */
const versions = (range) => [semver.minVersion(range).version, ...(semver.satisfies(process.version, range) ? [process.version.slice(1)] : [])];

/** Every package folder under `modules` (a node_modules), scoped ones and nested node_modules included. */
function packages(modules) {
  if (!existsSync(modules)) return [];
  return readdirSync(modules, { withFileTypes: true }).flatMap((entry) => {
    if (entry.name.startsWith('.')) return [];
    const path = join(modules, entry.name);
    if (entry.name.startsWith('@')) return packages(path);
    return existsSync(join(path, 'package.json')) ? [path, ...packages(join(path, 'node_modules'))] : [];
  });
}

// npm's record of the installed tree says which packages only the dev dependencies brought.
const hidden = join(dir, 'node_modules', '.package-lock.json');
const recorded = existsSync(hidden) ? JSON.parse(readFileSync(hidden, 'utf8')).packages : {};
const found = packages(join(dir, 'node_modules'));
const wrong = [];
for (const path of found) {
  const { name, version, engines } = JSON.parse(readFileSync(join(path, 'package.json'), 'utf8'));
  const wants = engines?.node;
  if (typeof wants !== 'string' || wants.trim() === '' || wants.trim() === '*') continue;
  const use = recorded[relative(dir, path)]?.dev ? 'development' : 'production';
  const refused = versions(ranges[use]).filter((node) => !semver.validRange(wants) || !semver.satisfies(node, wants));
  if (refused.length > 0) wrong.push(`${name}@${version} (${relative(dir, path)}, ${use}) wants node ${wants}, refuses ${refused.join(', ')}`);
}
if (wrong.length > 0) {
  console.error(`check-engines: ${wrong.length} installed package(s) refuse a Node version ${manifest.name} declares:\n  ${wrong.join('\n  ')}`);
  process.exit(1);
}
console.log(`check-engines: ${found.length} packages take node ${versions(ranges.production).join(' and ')} (development: ${versions(ranges.development).join(' and ')})`);
