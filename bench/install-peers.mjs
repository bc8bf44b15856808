// Installs the benchmark's Node peers (onnxruntime-node, TensorFlow.js with its WebAssembly backend) into
// bench/node_modules from bench/package-lock.json, when they are missing or not the pinned versions.
// They are dev dependencies of the benchmark only: the library's package.json never names them, and CI
// (`npm ci` at the root, then `npm test`) never installs them. Run by `npm run bench` before bench/run.ts;
// alone: `node bench/install-peers.mjs`.
//
// onnxruntime-node's install script would download CUDA binaries from NuGet on Linux x64
// (ONNXRUNTIME_NODE_INSTALL=skip turns that off: the CPU build is in the npm package). A failed install
// (offline, say) is not fatal: the bench then skips those peers and says why.
// BENCH_NO_ONNX=1 and BENCH_NO_TFJS=1 together skip the install.
import { existsSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const bench = fileURLToPath(new URL('.', import.meta.url));
const on = (name) => !['', '0', 'false', undefined].includes(process.env[name]);
if (on('BENCH_NO_ONNX') && on('BENCH_NO_TFJS')) process.exit(0);

const pinned = JSON.parse(readFileSync(`${bench}package.json`, 'utf8')).devDependencies;
const stale = Object.entries(pinned).filter(([name, version]) => {
  const p = `${bench}node_modules/${name}/package.json`;
  return !existsSync(p) || JSON.parse(readFileSync(p, 'utf8')).version !== version;
});
if (stale.length === 0) process.exit(0);

console.error(`bench: installing the benchmark peers into bench/node_modules (${stale.map(([n, v]) => `${n}@${v}`).join(', ')}; about 600 MB) ...`);
// The npm that runs `npm run bench`, else the one on the PATH.
const npm = process.env.npm_execpath ? [process.execPath, [process.env.npm_execpath]] : ['npm', []];
const r = spawnSync(npm[0], [...npm[1], 'ci', '--prefix', bench, '--no-audit', '--no-fund', '--loglevel=error'], {
  stdio: 'inherit',
  env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' },
  shell: process.platform === 'win32' && npm[0] === 'npm',
});
if (r.status !== 0) {
  console.error(`bench: could not install the peers (npm ci --prefix bench: ${r.error?.message ?? `exit ${r.status ?? r.signal}`}); the bench skips onnxruntime and tfjs-wasm`);
}
