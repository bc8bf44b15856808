// Runs before `npm start`, `npm test` and `npm pack`: installs the dev dependencies on a fresh clone (so
// that the README's two commands work alone), then compiles TypeScript into a clean dist/ (so that a
// deleted source or test file leaves nothing stale behind) and the WebAssembly kernels into dist/wasm/.
import { existsSync, rmSync } from 'node:fs';
import { execSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const run = (cmd) => execSync(cmd, { cwd: root, stdio: 'inherit' });
if (!existsSync(`${root}node_modules/typescript`)) {
  console.error('qkv: installing dependencies (npm ci) ...');
  run('npm ci --include=dev --no-audit --no-fund --loglevel=error');
}
rmSync(`${root}dist`, { recursive: true, force: true });
run('node node_modules/typescript/bin/tsc -p .');
run('node scripts/build-wasm.mjs dist');
