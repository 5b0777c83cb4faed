// dist/cjs holds the CommonJS build of `tokenhub/client`; without this marker Node would read its
// .js files as ES modules, since the package itself is "type": "module". npm runs it from the package root.
import { writeFileSync } from 'node:fs';

writeFileSync('dist/cjs/package.json', '{ "type": "commonjs" }\n');
