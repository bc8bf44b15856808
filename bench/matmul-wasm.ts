/**
 * GFLOP/s of the wasm backend's matmul (wasm/matmul.ts) on 1 and 2 threads, against the 'js' backend's
 * (src/backend/js/matmul.ts, one thread and with its helper worker), on square products and on the GPT
 * training shapes (forward x @ W^T and the two backward products of each Linear, attention's batched
 * products). Each timing takes several samples; a sample runs the product enough times to take
 * ~20 ms (at least once) and is followed by a garbage collection, so that outputs are recycled as in a
 * training loop (a long synchronous loop would otherwise keep every output alive); the table shows the
 * median and the best sample (the best is the better estimate on a busy machine). Checks every result
 * against the reference matmul (max |error| / (k 2^-24 max|a||b|)).
 *
 *   node build/bench/matmul-wasm.js                 both builds (the relaxed one in a child process with
 *                                                   --experimental-wasm-relaxed-simd)
 *   node build/bench/matmul-wasm.js --flavour simd  one build only (or relaxed-simd)
 *   --only 1024,768x128x384  only cases whose name contains one of these;  --no-js  skip the js backend
 *   --samples 5
 */
import { execFileSync } from 'node:child_process';
import { loadavg, availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';
import { enableRelaxedSimdFlag, configureWasm, wasmInfo, wasmRuntime, wasmBackend } from '../src/backend/wasm/index.js';
import { matmul as reference } from '../src/backend/reference/matmul.js';
import { matmul as js, configureJsMatmul, startJsMatmulWorker } from '../src/backend/js/matmul.js';
import type { MatmulParams } from '../src/backend/kernels/matmul.js';

const argv = process.argv.slice(2);
function opt(name: string): string | undefined {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : argv.find((x) => x.startsWith(`--${name}=`))?.slice(name.length + 3);
}

interface Case {
  name: string;
  batch: number;
  m: number;
  k: number;
  n: number;
  transA: boolean;
  transB: boolean;
  /** One B for every batch item (a Linear's weight). */
  sharedB?: boolean;
}

function c(name: string, batch: number, m: number, k: number, n: number, transA: boolean, transB: boolean, sharedB = false): Case {
  return { name, batch, m, k, n, transA, transB, sharedB };
}

const cases: Case[] = [
  c('512^3', 1, 512, 512, 512, false, false),
  c('1024^3', 1, 1024, 1024, 1024, false, false),
  c('1024^3 A^T', 1, 1024, 1024, 1024, true, false),
  c('1024^3 B^T', 1, 1024, 1024, 1024, false, true),
  c('2048^3', 1, 2048, 2048, 2048, false, false),
  // The GPT recipe (batch 12 x block 64 = 768 rows, width 128, MLP 512): Linear forward x @ W^T, backward
  // dX = dY @ W and dW = dY^T @ X.
  c('x@Wqkv^T 768x128x384', 1, 768, 128, 384, false, true),
  c('dY@Wqkv  768x384x128', 1, 768, 384, 128, false, false),
  c('dY^T@X   384x768x128', 1, 384, 768, 128, true, false),
  c('x@Wup^T  768x128x512', 1, 768, 128, 512, false, true),
  c('dY@Wup   768x512x128', 1, 768, 512, 128, false, false),
  c('dY^T@X   512x768x128', 1, 512, 768, 128, true, false),
  c('h@Wdn^T  768x512x128', 1, 768, 512, 128, false, true),
  c('dY@Wdn   768x128x512', 1, 768, 128, 512, false, false),
  c('dY^T@H   128x768x512', 1, 128, 768, 512, true, false),
  c('x@W^T 12x[64x128]x[384x128]^T', 12, 64, 128, 384, false, true, true),
  // Attention, batch x heads = 48.
  c('48x[64x64]@[64x64]', 48, 64, 64, 64, false, false),
  c('48x[64x64]@[64x64]^T', 48, 64, 64, 64, false, true),
  c('48x[64x64]^T@[64x64]', 48, 64, 64, 64, true, false),
  c('Q@K^T 48x[64x32]x[64x32]^T', 48, 64, 32, 64, false, true),
  c('P@V   48x[64x64]x[64x32]', 48, 64, 64, 32, false, false),
  // Small and skinny.
  c('64^3', 1, 64, 64, 64, false, false),
  c('32^3', 1, 32, 32, 32, false, false),
  c('16^3', 1, 16, 16, 16, false, false),
  c('1x768 @ [768x768]^T', 1, 1, 768, 768, false, true),
  c('1x768 @ 768x768', 1, 1, 768, 768, false, false),
  c('[300x257]^T x [129x300]^T', 1, 257, 300, 129, true, true),
];

function random(n: number, seed: number): Float32Array {
  const x = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    x[i] = s / 2 ** 31 - 1;
  }
  return x;
}

function params(cs: Case): MatmulParams {
  return {
    batch: cs.batch, m: cs.m, k: cs.k, n: cs.n, transA: cs.transA, transB: cs.transB,
    aOffsets: Int32Array.from({ length: cs.batch }, (_, i) => i * cs.m * cs.k),
    bOffsets: Int32Array.from({ length: cs.batch }, (_, i) => (cs.sharedB ? 0 : i * cs.k * cs.n)),
  };
}

const adopt = wasmBackend.adopt!;
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/** [median, best] milliseconds per call. */
async function timeIt(f: () => unknown, samples: number): Promise<[number, number]> {
  f();
  const t0 = performance.now();
  f();
  const once = performance.now() - t0;
  const inner = Math.max(1, Math.min(200, Math.round(20 / Math.max(once, 1e-3))));
  const t: number[] = [];
  for (let s = 0; s < samples; s++) {
    gc();
    await tick(); // finalizers return the freed outputs to the wasm heap
    const a = performance.now();
    for (let i = 0; i < inner; i++) f();
    t.push((performance.now() - a) / inner);
  }
  t.sort((x, y) => x - y);
  return [t[t.length >> 1], t[0]];
}

/** max |got - want| in units of k 2^-24 max|a| max|b| (the f32 accumulation bound's scale). */
function errUnits(got: Float32Array, want: Float32Array, k: number, amax: number, bmax: number): number {
  let e = 0;
  for (let i = 0; i < got.length; i++) e = Math.max(e, Math.abs(got[i] - want[i]));
  return e / (k * 2 ** -24 * amax * bmax);
}

async function runFlavour(flavour: 'simd' | 'relaxed-simd'): Promise<void> {
  if (flavour === 'relaxed-simd' && !enableRelaxedSimdFlag()) throw new Error('cannot enable relaxed SIMD');
  configureWasm({ flavour, threads: 2 });
  await wasmRuntime().pool.ready();
  const noJs = argv.includes('--no-js') || flavour === 'relaxed-simd';
  const jsWorker = noJs ? false : await startJsMatmulWorker();
  const only = opt('only')?.split(',');
  const samples = Number(opt('samples') ?? 5);
  const info = wasmInfo();
  console.log(`\nGFLOP/s (2 batch m k n / time): median / best of ${samples} samples`);
  console.log(`wasm ${info.flavour}, ${info.threads} threads ready; ${availableParallelism()} CPUs; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  const head = ['product', 'wasm 1t', 'wasm 2t', ...(noJs ? [] : ['js 1t', 'js adaptive', 'x js 1t']), 'err units'];
  console.log(head.join(' | '));
  for (const cs of cases) {
    if (only !== undefined && !only.some((o) => cs.name.includes(o))) continue;
    const p = params(cs);
    const a = adopt(random(cs.batch * cs.m * cs.k, 1));
    const b = adopt(random((cs.sharedB ? 1 : cs.batch) * cs.k * cs.n, 2));
    const flop = 2 * cs.batch * cs.m * cs.k * cs.n;
    const g = ([med, best]: [number, number]): string => `${(flop / med / 1e6).toFixed(1)} / ${(flop / best / 1e6).toFixed(1)}`;
    const row = [cs.name];
    let err = 0;
    const want = flop <= 2 ** 31 ? reference.matmul(a, b, p) : null;
    let t1: [number, number] = [0, 0];
    for (const threads of [1, 2]) {
      configureWasm({ threads });
      const got = wasmBackend.matmul(a, b, p);
      if (want !== null) err = Math.max(err, errUnits(got, want, cs.k, 1, 1));
      const t = await timeIt(() => wasmBackend.matmul(a, b, p), samples);
      if (threads === 1) t1 = t;
      row.push(g(t));
    }
    if (!noJs) {
      const few = flop > 2 ** 31 ? 1 : samples; // js takes seconds on 2048^3
      configureJsMatmul({ workers: false });
      const tj = await timeIt(() => js.matmul(a, b, p), few);
      configureJsMatmul({ workers: true, adaptive: true });
      for (let i = 0; i < 3; i++) js.matmul(a, b, p);
      const tja = jsWorker ? await timeIt(() => js.matmul(a, b, p), few) : null;
      row.push(g(tj), tja !== null ? g(tja) : 'n/a', (tj[0] / t1[0]).toFixed(1));
    }
    row.push(want === null ? 'n/a' : err.toFixed(3));
    console.log(row.join(' | '));
  }
  console.log(`load average after: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
}

const flavour = opt('flavour');
if (flavour === 'simd' || flavour === 'relaxed-simd') {
  await runFlavour(flavour);
} else {
  await runFlavour('simd');
  const self = fileURLToPath(import.meta.url);
  execFileSync(process.execPath, ['--experimental-wasm-relaxed-simd', self, ...argv, '--flavour', 'relaxed-simd'], { stdio: 'inherit' });
}
process.exit(0);
