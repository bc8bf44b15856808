/**
 * GFLOP/s of the reference matmul vs the 'js' backend's, on the products of the GPT training recipe
 * (batch 12, block 64, width 128, 4 layers: x [768, 128]), forward and backward, and attention's batched
 * products (48 = 12 batches x 4 heads, head size 32). Median of 5 timed runs after a warm-up; also checks
 * that every result is bitwise equal to the reference.
 *
 *   node build/bench/matmul-js.js               the table: js on one thread, always with the helper worker,
 *                                               and adaptive (the default: the worker where it is faster)
 *   node build/bench/matmul-js.js --break-even  js one thread vs two, by product size
 */
import { matmul as reference } from '../src/backend/reference/matmul.js';
import { matmul as js, configureJsMatmul, startJsMatmulWorker, jsMatmulStats } from '../src/backend/js/matmul.js';
import type { MatmulParams } from '../src/backend/kernels/matmul.js';
import { availableParallelism, loadavg } from 'node:os';

/** A product's sizes, as the kernel takes them (offsets are made per case). */
interface Case extends Omit<MatmulParams, 'aOffsets' | 'bOffsets'> {
  name: string;
  /** B shared by every batch (a Linear weight). */
  sharedB?: boolean;
}

const cases: Case[] = [
  { name: 'x @ Wqkv^T   [768,128]x[384,128]^T', batch: 1, m: 768, k: 128, n: 384, transA: false, transB: true },
  { name: 'x @ Wup^T    [768,128]x[512,128]^T', batch: 1, m: 768, k: 128, n: 512, transA: false, transB: true },
  { name: 'h @ Wdown^T  [768,512]x[128,512]^T', batch: 1, m: 768, k: 512, n: 128, transA: false, transB: true },
  { name: 'x @ Wo^T     [768,128]x[128,128]^T', batch: 1, m: 768, k: 128, n: 128, transA: false, transB: true },
  { name: 'dY @ Wqkv    [768,384]x[384,128]', batch: 1, m: 768, k: 384, n: 128, transA: false, transB: false },
  { name: 'dY @ Wup     [768,512]x[512,128]', batch: 1, m: 768, k: 512, n: 128, transA: false, transB: false },
  { name: 'dY @ Wdown   [768,128]x[128,512]', batch: 1, m: 768, k: 128, n: 512, transA: false, transB: false },
  { name: 'dY^T @ X     [768,384]^T x[768,128]', batch: 1, m: 384, k: 768, n: 128, transA: true, transB: false },
  { name: 'dY^T @ X     [768,128]^T x[768,512]', batch: 1, m: 128, k: 768, n: 512, transA: true, transB: false },
  { name: 'dY^T @ X  12x[64,384]^T x[64,128]', batch: 12, m: 384, k: 64, n: 128, transA: true, transB: false },
  { name: 'x @ W^T   12x[64,128]x[384,128]^T', batch: 12, m: 64, k: 128, n: 384, transA: false, transB: true, sharedB: true },
  { name: 'Q @ K^T   48x[64,32]x[64,32]^T', batch: 48, m: 64, k: 32, n: 64, transA: false, transB: true },
  { name: 'P @ V     48x[64,64]x[64,32]', batch: 48, m: 64, k: 64, n: 32, transA: false, transB: false },
  { name: 'P^T @ dO  48x[64,64]^T x[64,32]', batch: 48, m: 64, k: 64, n: 32, transA: true, transB: false },
  { name: 'dS^T @ Q  48x[64,64]^T x[64,32]', batch: 48, m: 64, k: 64, n: 32, transA: true, transB: false },
  { name: 'A^T B^T   [130,67]^T x[129,130]^T', batch: 1, m: 67, k: 130, n: 129, transA: true, transB: true },
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

function params(c: Case): MatmulParams {
  return {
    batch: c.batch, m: c.m, k: c.k, n: c.n, transA: c.transA, transB: c.transB,
    aOffsets: Int32Array.from({ length: c.batch }, (_, i) => i * c.m * c.k),
    bOffsets: Int32Array.from({ length: c.batch }, (_, i) => (c.sharedB ? 0 : i * c.k * c.n)),
  };
}

/** Median milliseconds of `runs` calls after one warm-up call. */
function median(f: () => void, runs = 5): number {
  f();
  const t: number[] = [];
  for (let r = 0; r < runs; r++) {
    const s = process.hrtime.bigint();
    f();
    t.push(Number(process.hrtime.bigint() - s) / 1e6);
  }
  t.sort((x, y) => x - y);
  return t[t.length >> 1];
}

function sameBits(x: Float32Array, y: Float32Array): boolean {
  if (x.length !== y.length) return false;
  const a = new Uint32Array(x.buffer, x.byteOffset, x.length), b = new Uint32Array(y.buffer, y.byteOffset, y.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Runs every kernel on every case a few times, so that the timings see optimized code. */
function warmUp(): void {
  for (const c of cases) {
    const p = params(c);
    const a = random(c.batch * c.m * c.k, 5), b = random((c.sharedB ? 1 : c.batch) * c.k * c.n, 6);
    reference.matmul(a, b, p);
    for (const workers of [false, true, false, true]) {
      configureJsMatmul({ workers });
      js.matmul(a, b, p);
    }
  }
}

async function table(): Promise<void> {
  const workerOk = await startJsMatmulWorker();
  warmUp();
  console.log(`GFLOP/s (2·batch·m·k·n / median of 5), ${workerOk ? 'helper worker ready' : 'no helper worker'}; ${availableParallelism()} CPUs, load average ${loadavg()[0].toFixed(2)}`);
  const head = ['product', 'tA', 'tB', 'reference', 'js 1 thread', 'js + worker', 'js adaptive', 'x ref (1t)', 'x ref (2t)', 'bitwise'];
  console.log(head.join(' | '));
  for (const c of cases) {
    const p = params(c);
    const a = random(c.batch * c.m * c.k, 1);
    const b = random((c.sharedB ? 1 : c.batch) * c.k * c.n, 2);
    const flop = 2 * c.batch * c.m * c.k * c.n;
    const want = reference.matmul(a, b, p);
    const tRef = median(() => reference.matmul(a, b, p));
    configureJsMatmul({ workers: false });
    const got1 = js.matmul(a, b, p);
    const t1 = median(() => js.matmul(a, b, p));
    configureJsMatmul({ workers: true, adaptive: false });
    const got2 = js.matmul(a, b, p);
    const t2 = median(() => js.matmul(a, b, p));
    configureJsMatmul({ workers: true, adaptive: true });
    for (let i = 0; i < 3; i++) js.matmul(a, b, p); // time both ways first
    const got3 = js.matmul(a, b, p);
    const t3 = median(() => js.matmul(a, b, p));
    const g = (t: number): string => (flop / t / 1e6).toFixed(2);
    const ok = sameBits(want, got1) && sameBits(want, got2) && sameBits(want, got3);
    const w = (t: number): string => (workerOk ? g(t) : 'n/a');
    console.log([c.name, c.transA ? 'T' : '-', c.transB ? 'T' : '-', g(tRef), g(t1), w(t2), w(t3), (tRef / t1).toFixed(1), workerOk ? (tRef / t2).toFixed(1) : 'n/a', ok ? 'equal' : 'DIFFERENT'].join(' | '));
  }
  console.log('stats', JSON.stringify(jsMatmulStats()), `load average ${loadavg()[0].toFixed(2)}`);
}

/** One thread vs two on square-ish products of growing size (threshold forced to 0 for the second). */
async function breakEven(): Promise<void> {
  if (!(await startJsMatmulWorker())) {
    console.log('no helper worker');
    return;
  }
  warmUp();
  const spinArg = process.argv.find((x) => x.startsWith('--spin='));
  if (spinArg !== undefined) configureJsMatmul({ spinMicros: Number(spinArg.slice(7)) });
  console.log('macs | shape | js 1 thread ms | js + worker ms | speed-up');
  for (const [m, k, n] of [[16, 16, 16], [32, 16, 32], [32, 32, 32], [48, 32, 48], [64, 32, 64], [64, 64, 64], [96, 64, 96], [128, 64, 128], [128, 128, 128], [192, 128, 192], [256, 128, 256], [384, 128, 384]]) {
    const c: Case = { name: '', batch: 1, m, k, n, transA: false, transB: true };
    const p = params(c);
    const a = random(m * k, 3), b = random(k * n, 4);
    configureJsMatmul({ workers: false });
    const t1 = median(() => js.matmul(a, b, p), 21);
    configureJsMatmul({ workers: true, minWorkerMacs: 0 });
    const gap = Number(process.argv.find((x) => x.startsWith('--gap='))?.slice(6) ?? 0);
    const t2 = median(() => {
      js.matmul(a, b, p);
      // Simulate other work between products (the time is not counted).
      if (gap > 0) for (const e = performance.now() + gap; performance.now() < e; );
    }, 21) - gap;
    console.log([m * k * n, `${m}x${k}x${n}`, t1.toFixed(3), t2.toFixed(3), (t1 / t2).toFixed(2)].join(' | '));
  }
}

await (process.argv.includes('--break-even') ? breakEven() : table());
