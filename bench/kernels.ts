/**
 * qkv on the kernel benchmarks of `npm run bench`: the same workloads and inputs as bench/torch_kernels.py
 * (PyTorch), bench/peers/onnx_kernels.mjs (onnxruntime-node) and bench/peers/tfjs_kernels.mjs
 * (TensorFlow.js WebAssembly); bench/peers/common.mjs defines what they share and this file repeats it.
 *
 *   node --expose-gc <build>/bench/kernels.js matmul N [options]
 *   node --expose-gc <build>/bench/kernels.js attention fwd|fwdbwd N [options]
 * options: --backend reference|js|wasm (default reference) --threads T (default 1)
 *          --causal 0|1 --heads 12 --head-dim 64 --warmup 1 --repeats 5 --max-seconds 20
 *          --impl fused|composed (attention; default: scaledDotProductAttention's own choice)
 *          --max-memory-fraction 0.8   --out FILE
 * Prints one JSON line (a `skipped` line when the backend is not there or the workload cannot run).
 *
 * - matmul: `matmul(a, b)` on [N, N] tensors, under noGrad.
 * - attention fwd: `scaledDotProductAttention(q, k, v, { causal })` with q, k, v [1, heads, N, headDim],
 *   under noGrad; fwdbwd: q, k, v require grad, then `out.mul(g).sum().backward()` for a fixed g.
 * Threads: reference runs on one thread; js uses its helper worker thread for large products with
 * --threads 2 (`configureJsMatmul({ workers })`); wasm takes `configureWasm({ threads })` from
 * src/backend/wasm/index.js, imported by a computed path so that this file builds and runs (printing a
 * skip) where that backend does not exist yet.
 * --out writes the result as float32, little-endian: C; or out; or out, dq, dk, dv.
 */
import { crc32 } from 'node:zlib';
import { writeFileSync, appendFileSync, readFileSync } from 'node:fs';
import { Tensor, noGrad, matmul, scaledDotProductAttention, backend, listBackends, registerBackend, setBackend, type AttentionOptions, type Backend } from '../src/index.js';
import { availableBackends, isMain, jsWorkerShare, median } from './common.js';

/** Input seeds, as bench/peers/common.mjs. */
export const SEEDS = Object.freeze({ a: 1, b: 2, q: 11, k: 12, v: 13, g: 14 });

/**
 * The benchmark input with seed `seed`: element i is murmur3's 32-bit finalizer of (i + seed * 0x9E3779B9)
 * mod 2^32, its top 24 bits mapped to [-1, 1) (exact in float32). Same bits as every other peer.
 */
export function benchInput(seed: number, n: number): Float32Array {
  const out = new Float32Array(n);
  const base = Math.imul(seed, 0x9e3779b9);
  for (let i = 0; i < n; i++) {
    let x = (i + base) >>> 0;
    x ^= x >>> 16;
    x = Math.imul(x, 0x7feb352d);
    x ^= x >>> 15;
    x = Math.imul(x, 0x846ca68b);
    x ^= x >>> 16;
    out[i] = ((x >>> 8) - 8388608) / 8388608;
  }
  return out;
}

function inputsCrc(arrays: readonly Float32Array[]): number {
  let c = 0;
  for (const a of arrays) c = crc32(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), c);
  return c >>> 0;
}

export type KernelOp = 'matmul' | 'attention-fwd' | 'attention-fwdbwd';

export interface KernelWorkload {
  op: KernelOp;
  n: number;
  causal: boolean;
  heads: number;
  headDim: number;
}

/** Useful FLOPs (FlashAttention's count): matmul 2N^3; attention fwd 4 h N^2 d, halved when causal; fwd+bwd 3.5x. */
export function kernelFlops(w: KernelWorkload): number {
  if (w.op === 'matmul') return 2 * w.n ** 3;
  const fwd = (4 * w.heads * w.n * w.n * w.headDim) / (w.causal ? 2 : 1);
  return w.op === 'attention-fwd' ? fwd : 3.5 * fwd;
}

/** One measurement's JSON line, shared by every peer (the fields after `threads` are absent on a skip). */
export interface KernelResult {
  workload: 'kernel';
  peer: string;
  op: KernelOp;
  n: number;
  heads?: number;
  headDim?: number;
  causal?: boolean;
  threads: number;
  backend?: string;
  skipped?: string;
  msMedian?: number;
  msRuns?: number[];
  warmup?: number;
  flops?: number;
  gflops?: number;
  threadsUsed?: number;
  peakRssMiB?: number;
  baseRssMiB?: number;
  inputCrc?: number;
  outFile?: string | null;
  /** qkv attention: 'fused' (the backend's attention kernels) or 'composed' (matmul, softmax, matmul). */
  attentionImpl?: 'fused' | 'composed';
  info?: Record<string, unknown>;
}

interface Options extends KernelWorkload {
  backend: string;
  threads: number;
  warmup: number;
  repeats: number;
  maxSeconds: number;
  impl: 'fused' | 'composed' | null;
  maxMemoryFraction: number;
  out: string | null;
}

function parseArgs(argv: readonly string[]): Options {
  const pos: string[] = [];
  const o: Omit<Options, 'op' | 'n'> = { backend: 'reference', threads: 1, causal: false, heads: 12, headDim: 64, warmup: 1, repeats: 5, maxSeconds: 20, impl: null, maxMemoryFraction: 0.8, out: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) {
      pos.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
    const value = eq < 0 ? argv[++i] : a.slice(eq + 1);
    if (value === undefined) throw new Error(`kernels: --${name} needs a value`);
    const int = (min: number): number => {
      const v = Number(value);
      if (!Number.isInteger(v) || v < min) throw new Error(`kernels: --${name} must be an integer >= ${min}, got '${value}'`);
      return v;
    };
    switch (name) {
      case 'backend': o.backend = value; break;
      case 'threads': o.threads = int(1); break;
      case 'causal': o.causal = value === '1' || value === 'true'; break;
      case 'heads': o.heads = int(1); break;
      case 'head-dim': o.headDim = int(1); break;
      case 'warmup': o.warmup = int(0); break;
      case 'repeats': o.repeats = int(1); break;
      case 'max-seconds': o.maxSeconds = Number(value); break;
      case 'max-memory-fraction': o.maxMemoryFraction = Number(value); break;
      case 'impl':
        if (value !== 'fused' && value !== 'composed') throw new Error(`kernels: --impl must be fused or composed, got '${value}'`);
        o.impl = value;
        break;
      case 'out': o.out = value; break;
      default: throw new Error(`kernels: unknown option --${name}`);
    }
  }
  const n = Number(pos[pos.length - 1]);
  if (pos[0] === 'matmul' && pos.length === 2 && Number.isInteger(n) && n > 0) return { ...o, op: 'matmul', n };
  if (pos[0] === 'attention' && (pos[1] === 'fwd' || pos[1] === 'fwdbwd') && pos.length === 3 && Number.isInteger(n) && n > 0) return { ...o, op: `attention-${pos[1]}`, n };
  throw new Error(`usage: kernels.js matmul N | attention fwd|fwdbwd N [--backend B] [--threads T] [--causal 0|1] ...; got: ${argv.join(' ')}`);
}

const MiB = 2 ** 20;
const rssMiB = (): number => process.memoryUsage.rss() / MiB;
const peakRssMiB = (): number => (process.resourceUsage().maxRSS * 1024) / MiB;
const gc = (): void => (globalThis as { gc?: () => void }).gc?.();

function memAvailableBytes(): number | null {
  try {
    const m = /^MemAvailable:\s+(\d+) kB$/m.exec(readFileSync('/proc/meminfo', 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

type Loaded = { ok: true; threadsUsed: number; info: Record<string, unknown>; after?: () => Record<string, unknown> } | { ok: false; reason: string };

/**
 * Makes `name` available and active on `threads` threads, or says why it cannot. The js and wasm backends
 * are imported by computed paths: this file must build where they do not exist.
 */
async function loadBackend(name: string, threads: number): Promise<Loaded> {
  if (name === 'reference') {
    if (threads !== 1) return { ok: false, reason: 'the reference backend runs on one thread' };
    setBackend('reference');
    return { ok: true, threadsUsed: 1, info: {} };
  }
  if (name === 'js') {
    await availableBackends(); // registers 'js' when it was built
    if (!listBackends().includes('js')) return { ok: false, reason: "backend 'js' is not built" };
    if (threads > 2) return { ok: false, reason: 'the js backend uses at most one helper worker thread (--threads 1 or 2)' };
    const path = '../src/backend/js/index.js';
    const js = (await import(path)) as { configureJsMatmul?: (o: { workers?: boolean; adaptive?: boolean }) => void; startJsMatmulWorker?: () => Promise<boolean> };
    js.configureJsMatmul?.({ workers: threads === 2 });
    const started = threads === 2 ? ((await js.startJsMatmulWorker?.()) ?? false) : false;
    setBackend('js');
    return { ok: true, threadsUsed: started ? 2 : 1, info: { jsWorker: threads === 2 ? (started ? 'started (adaptive: used where it is faster)' : 'could not start') : 'off' } };
  }
  if (name === 'wasm') {
    const path = '../src/backend/wasm/index.js';
    let mod: Record<string, unknown>;
    try {
      mod = (await import(path)) as Record<string, unknown>;
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === 'ERR_MODULE_NOT_FOUND' && /backend\/wasm\/index\.js'/.test((e as Error).message)) return { ok: false, reason: "backend 'wasm' is not built (src/backend/wasm/index.ts is missing)" };
      return { ok: false, reason: `src/backend/wasm/index.js failed to load: ${(e as Error).message.split('\n')[0]}` };
    }
    for (const v of Object.values(mod)) {
      const b = v as Partial<Backend> | null;
      if (b && typeof b === 'object' && b.name === 'wasm' && typeof b.matmul === 'function' && !listBackends().includes('wasm')) registerBackend(b as Backend);
    }
    if (!listBackends().includes('wasm')) return { ok: false, reason: "src/backend/wasm/index.js registers no backend named 'wasm'" };
    const configure = mod.configureWasm;
    if (typeof configure !== 'function') return { ok: false, reason: 'src/backend/wasm/index.js has no configureWasm({ threads })' };
    let info: Record<string, unknown>;
    try {
      configure({ threads });
      if (typeof mod.initWasm === 'function') await (mod.initWasm as (o: { threads: number }) => Promise<unknown>)({ threads });
      setBackend('wasm');
      info = typeof mod.wasmInfo === 'function' ? ((mod.wasmInfo as () => Record<string, unknown>)() ?? {}) : {};
    } catch (e) {
      return { ok: false, reason: `the wasm backend failed to start: ${(e as Error).message.split('\n')[0]}` };
    }
    const used = typeof info.threads === 'number' ? info.threads : threads;
    // The wasm heap's own high-water mark of live tensor bytes, where the runtime exposes it.
    const after = (): Record<string, unknown> => {
      const rt = mod.wasmRuntime;
      const heap = typeof rt === 'function' ? (rt() as { heap?: { getStats?: () => { peakLiveBytes: number; memoryBytes: number } } }).heap : undefined;
      const s = heap?.getStats?.();
      return s ? { wasmHeapPeakLiveMiB: s.peakLiveBytes / MiB, wasmMemoryMiB: s.memoryBytes / MiB } : {};
    };
    return { ok: true, threadsUsed: used, info: { wasm: info }, after };
  }
  await availableBackends();
  if (!listBackends().includes(name)) return { ok: false, reason: `backend '${name}' is not registered (have: ${listBackends().join(', ')})` };
  if (threads !== 1) return { ok: false, reason: `no thread setting known for backend '${name}'` };
  setBackend(name);
  return { ok: true, threadsUsed: 1, info: {} };
}

/**
 * Garbage-collects (with node --expose-gc) and yields to the event loop twice, so that finalizers run: the
 * wasm backend frees a tensor's block when its view is collected, after the current task.
 */
async function collect(): Promise<void> {
  gc();
  await new Promise((r) => setImmediate(r));
  gc();
  await new Promise((r) => setImmediate(r));
}

/** Median over timed runs after warm-up; the timed runs stop once they took maxSeconds (after one). */
async function timeRuns(run: () => Float32Array[], o: Options): Promise<{ msMedian: number; msRuns: number[]; last: Float32Array[] }> {
  let last: Float32Array[] = [];
  for (let i = 0; i < o.warmup; i++) {
    last = run();
    await collect();
  }
  const ms: number[] = [];
  let total = 0;
  for (let r = 0; r < o.repeats; r++) {
    if (r > 0 && total > o.maxSeconds * 1000) break;
    last = [];
    await collect();
    const t0 = performance.now();
    last = run();
    const t = performance.now() - t0;
    ms.push(t);
    total += t;
  }
  return { msMedian: median(ms), msRuns: ms.map((v) => Math.round(v * 1000) / 1000), last };
}

export async function benchKernel(o: Options): Promise<KernelResult> {
  const head: KernelResult = {
    workload: 'kernel',
    peer: 'qkv',
    op: o.op,
    n: o.n,
    ...(o.op === 'matmul' ? {} : { heads: o.heads, headDim: o.headDim, causal: o.causal }),
    threads: o.threads,
    backend: o.backend,
  };
  const loaded = await loadBackend(o.backend, o.threads);
  if (!loaded.ok) return { ...head, skipped: loaded.reason };

  let inputs: Float32Array[];
  let run: () => Float32Array[];
  let impl: 'fused' | 'composed' | undefined;
  if (o.op === 'matmul') {
    inputs = [benchInput(SEEDS.a, o.n * o.n), benchInput(SEEDS.b, o.n * o.n)];
    const [a, b] = inputs.map((x) => new Tensor(x, [o.n, o.n]));
    run = () => [noGrad(() => matmul(a, b)).data];
  } else {
    const { n, heads: h, headDim: d } = o;
    const shape = [1, h, n, d];
    // Fused where the backend has attention kernels and nothing asks for the composed path
    // (scaledDotProductAttention picks fused by default where it applies: no dropout, no float mask).
    impl = o.impl ?? ('attentionForward' in backend() ? 'fused' : 'composed');
    if (impl === 'composed') {
      // [N, N] float32 arrays alive at once, per head: forward ~3 (scores, masked scores, weights),
      // forward + backward ~6 (the saved ones and their gradients), plus the causal mask.
      const matrices = (o.op === 'attention-fwd' ? 3 : 6) * h + (o.causal ? 2 : 0);
      const need = matrices * n * n * 4;
      const avail = memAvailableBytes();
      if (avail !== null && need > o.maxMemoryFraction * avail) {
        return { ...head, skipped: `does not fit: composed attention needs about ${(need / 2 ** 30).toFixed(0)} GiB (${matrices} N x N float32 arrays), ${(avail / 2 ** 30).toFixed(1)} GiB available`, attentionImpl: impl };
      }
    }
    const names = o.op === 'attention-fwd' ? (['q', 'k', 'v'] as const) : (['q', 'k', 'v', 'g'] as const);
    inputs = names.map((x) => benchInput(SEEDS[x], h * n * d));
    const opts: AttentionOptions & { returnWeights?: false } = { causal: o.causal };
    if (o.impl !== null) Object.assign(opts, { impl: o.impl }); // the option exists where fused attention does
    if (o.op === 'attention-fwd') {
      const [q, k, v] = inputs.map((x) => new Tensor(x, shape));
      run = () => [noGrad(() => scaledDotProductAttention(q, k, v, opts)).data];
    } else {
      const [q, k, v] = inputs.slice(0, 3).map((x) => new Tensor(x, shape, true));
      const g = new Tensor(inputs[3], shape);
      run = () => {
        for (const t of [q, k, v]) t.zeroGrad();
        const out = scaledDotProductAttention(q, k, v, opts);
        out.mul(g).sum().backward();
        return [out.data, q.grad!.data, k.grad!.data, v.grad!.data];
      };
    }
  }

  await collect();
  const baseRssMiB = rssMiB();
  const t = await timeRuns(run, o);
  const peak = peakRssMiB();
  if (o.out !== null) {
    writeFileSync(o.out, new Uint8Array(0));
    for (const a of t.last) appendFileSync(o.out, new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  }
  const flops = kernelFlops(o);
  const share = o.backend === 'js' ? jsWorkerShare() : null;
  return {
    ...head,
    msMedian: t.msMedian,
    msRuns: t.msRuns,
    warmup: o.warmup,
    flops,
    gflops: flops / (t.msMedian / 1000) / 1e9,
    threadsUsed: share !== null && share.threadedCalls === 0 ? 1 : loaded.threadsUsed,
    peakRssMiB: peak,
    baseRssMiB,
    inputCrc: inputsCrc(inputs),
    outFile: o.out,
    ...(impl !== undefined ? { attentionImpl: impl } : {}),
    info: { ...loaded.info, ...(loaded.after?.() ?? {}), ...(share !== null ? { jsMatmulWorker: share } : {}) },
  };
}

if (isMain(import.meta.url)) {
  const o = parseArgs(process.argv.slice(2));
  const res = await benchKernel(o);
  // Worker threads (js helper, wasm pool) must not keep the process alive; exit once the line is out.
  process.stdout.write(`${JSON.stringify(res)}\n`, () => process.exit(0));
}
