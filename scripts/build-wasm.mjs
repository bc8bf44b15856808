// Compiles wasm/index.ts (AssemblyScript) into OUT/wasm/qkv-simd.wasm and OUT/wasm/qkv-relaxed.wasm
// (OUT defaults to dist). Run by scripts/prepare.mjs after tsc; `node scripts/build-wasm.mjs build-x`
// builds into another folder (as `tsc --outDir build-x` does for the JavaScript).
import { mkdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
// --entry FILE compiles another entry (a kernel family alone, while it is being written).
const argv = process.argv.slice(2);
const at = argv.indexOf('--entry');
const entry = at >= 0 ? argv.splice(at, 2)[1] : 'wasm/index.ts';
const out = `${root}${argv[0] ?? 'dist'}/wasm`;
mkdirSync(out, { recursive: true });
const asc = `${root}node_modules/assemblyscript/bin/asc.js`;
// --runtime stub: no garbage collector, the kernels allocate nothing. Memory is imported and shared
// (threads); the maximum is 4 GiB, wasm32's limit (reserved address space, not memory).
const common = [
  entry, '-O3', '--noAssert', '--runtime', 'stub', '--use', 'abort=',
  '--importMemory', '--sharedMemory', '--initialMemory', '17', '--maximumMemory', '65536',
  '--enable', 'simd', '--enable', 'threads',
];
for (const [name, extra] of [['qkv-simd', []], ['qkv-relaxed', ['--enable', 'relaxed-simd']]]) {
  execFileSync(process.execPath, [asc, ...common, ...extra, '-o', `${out}/${name}.wasm`], { cwd: root, stdio: 'inherit' });
}
