// Runs before `npm start` and `npm test`: installs the dev dependencies on a fresh clone (so that the
// README's two commands work alone), then compiles TypeScript to dist/.
import { existsSync } from 'node:fs';
import { execSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const run = (cmd) => execSync(cmd, { cwd: root, stdio: 'inherit' });
if (!existsSync(`${root}node_modules/typescript`)) {
  console.error('qkv: installing dependencies (npm ci) ...');
  run('npm ci --no-audit --no-fund --loglevel=error');
}
run('node node_modules/typescript/bin/tsc -p .');
