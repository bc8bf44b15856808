// Runs every compiled test file with Node's test runner. Listing them here (rather than a shell glob in
// package.json) works in every shell; extra arguments pass through (e.g. --test-name-pattern=parity).
import { readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const files = readdirSync(`${root}dist/test`).filter((f) => f.endsWith('.test.js')).sort().map((f) => `dist/test/${f}`);
if (files.length === 0) {
  console.error('scripts/test.mjs: no compiled tests in dist/test (did the build run?)');
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--test', '--test-reporter=spec', ...process.argv.slice(2), ...files], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
