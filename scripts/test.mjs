// Runs every compiled test file with Node's test runner, once per backend: each test is written once and
// the suite runs on the reference backend, then on the wasm backend (relaxed SIMD on, as the CLI runs it;
// the wasm kernel tests also run without it, on the plain SIMD build). Files that choose their backends
// themselves (backend-*.test.js, wasm-*.test.js) run in the passes listed for them below. Listing the files
// here (rather than a shell glob in package.json) works in every shell; extra arguments pass through to
// every pass (e.g. --test-name-pattern=parity). QKV_TEST_PASSES=reference,wasm picks passes.
import { readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const all = readdirSync(`${root}dist/test`).filter((f) => f.endsWith('.test.js')).sort().map((f) => `dist/test/${f}`);
if (all.length === 0) {
  console.error('scripts/test.mjs: no compiled tests in dist/test (did the build run?)');
  process.exit(1);
}
const own = (f) => /\/(backend-|wasm-)[^/]*$/.test(f);
const preload = pathToFileURL(`${root}dist/test/helpers/backend-preload.js`).href;
const passes = [
  { name: 'reference', files: all, env: {} },
  { name: 'wasm', files: all.filter((f) => !own(f)), env: { QKV_TEST_BACKEND: 'wasm', QKV_BACKEND: 'wasm', QKV_TEST_RELAXED: '1' } },
  { name: 'wasm-relaxed', files: all.filter((f) => /\/wasm-[^/]*$/.test(f)), env: { QKV_TEST_RELAXED: '1' } },
];
const wanted = process.env.QKV_TEST_PASSES?.split(',');
let failed = [];
for (const pass of passes) {
  if (wanted !== undefined && !wanted.includes(pass.name)) continue;
  if (pass.files.length === 0) continue;
  console.log(`\n=== tests on the ${pass.name} backend (${pass.files.length} files) ===\n`);
  const t0 = Date.now();
  const r = spawnSync(process.execPath, ['--import', preload, '--test', '--test-reporter=spec', ...process.argv.slice(2), ...pass.files], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, ...pass.env },
  });
  console.log(`\n=== ${pass.name}: ${r.status === 0 ? 'passed' : 'FAILED'} in ${((Date.now() - t0) / 1000).toFixed(0)} s ===`);
  if (r.status !== 0) failed.push(pass.name);
}
if (failed.length > 0) console.error(`\nscripts/test.mjs: failed passes: ${failed.join(', ')}`);
process.exit(failed.length > 0 ? 1 : 0);
