/**
 * What every kernel benchmark peer shares (onnx_kernels.mjs, tfjs_kernels.mjs here; bench/kernels.ts and
 * bench/torch_kernels.py carry the same definitions in their own language): the command line, the inputs,
 * the FLOP counts, the timing loop, and the one JSON line each run prints.
 *
 * Command line (every peer):
 *   matmul N                              C = A B, A and B [N, N]
 *   attention fwd|fwdbwd N                q, k, v [1, heads, N, headDim]; fwdbwd also backpropagates
 *                                         sum(out * g) for a fixed random g [1, heads, N, headDim]
 *   --causal 0|1 --heads 12 --head-dim 64
 *   --threads T --warmup 1 --repeats 5 --max-seconds 20   (timed runs stop once they took that long, after
 *                                         at least one)
 *   --out FILE                            write the result (float32, little-endian) for the agreement check:
 *                                         C; or out; or out, dq, dk, dv one after another
 *
 * Inputs. Element i of the input with seed s is a hash of i and s (murmur3's 32-bit finalizer on
 * (i + s * 0x9E3779B9) mod 2^32), its top 24 bits mapped to [-1, 1) as (h >>> 8) / 2^23 - 1: every value is
 * a multiple of 2^-23, exact in float32, and any language with 32-bit integer arithmetic (NumPy, JS's
 * Math.imul) gives the same bits. Seeds: A 1, B 2; q 11, k 12, v 13, g 14. Each peer reports the CRC-32
 * of its inputs' bytes (in that order), so the driver can check that all of them computed on the same
 * numbers.
 *
 * FLOPs (the useful work, as FlashAttention's benchmarks count it): matmul 2 N^3; attention forward
 * 4 heads N^2 headDim, halved when causal (only the lower triangle is needed); forward + backward 3.5x the
 * forward (the backward is 2.5x). A peer that computes the masked half anyway is not credited for it.
 *
 * Memory: peakRssMiB is the process's ru_maxrss (the high-water mark of resident memory, runtime and
 * inputs included), baseRssMiB the resident memory just before the first run (runtime + inputs), and
 * each measurement runs in its own process so that peaks do not mix.
 */
import { crc32 } from 'node:zlib';
import { writeFileSync, appendFileSync } from 'node:fs';

export const SEEDS = Object.freeze({ a: 1, b: 2, q: 11, k: 12, v: 13, g: 14 });

/** The benchmark input with seed `seed`: n float32 values in [-1, 1), see above. */
export function input(seed, n) {
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

/** CRC-32 of the arrays' bytes, one after another. */
export function inputsCrc(arrays) {
  let c = 0;
  for (const a of arrays) c = crc32(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), c);
  return c >>> 0;
}

/** Additive causal mask [n, n]: 0 where key j <= query i, -Infinity above the diagonal. */
export function causalMaskValues(n) {
  const m = new Float32Array(n * n);
  for (let i = 0; i < n; i++) m.fill(-Infinity, i * n + i + 1, (i + 1) * n);
  return m;
}

export function flops(w) {
  if (w.op === 'matmul') return 2 * w.n ** 3;
  const fwd = (4 * w.heads * w.n * w.n * w.headDim) / (w.causal ? 2 : 1);
  return w.op === 'attention-fwd' ? fwd : 3.5 * fwd;
}

/** Parses the command line above; throws on anything else. */
export function parseArgs(argv) {
  const pos = [];
  const o = { causal: false, heads: 12, headDim: 64, threads: 1, warmup: 1, repeats: 5, maxSeconds: 20, out: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) {
      pos.push(a);
      continue;
    }
    const [name, inline] = a.slice(2).split('=', 2);
    const value = inline ?? argv[++i];
    if (value === undefined) throw new Error(`--${name} needs a value`);
    const int = (min) => {
      const v = Number(value);
      if (!Number.isInteger(v) || v < min) throw new Error(`--${name} must be an integer >= ${min}, got '${value}'`);
      return v;
    };
    switch (name) {
      case 'causal': o.causal = value === '1' || value === 'true'; break;
      case 'heads': o.heads = int(1); break;
      case 'head-dim': o.headDim = int(1); break;
      case 'threads': o.threads = int(1); break;
      case 'warmup': o.warmup = int(0); break;
      case 'repeats': o.repeats = int(1); break;
      case 'max-seconds': o.maxSeconds = Number(value); break;
      case 'out': o.out = value; break;
      default: throw new Error(`unknown option --${name}`);
    }
  }
  if (pos[0] === 'matmul' && pos.length === 2) return { ...o, op: 'matmul', n: int0(pos[1]) };
  if (pos[0] === 'attention' && (pos[1] === 'fwd' || pos[1] === 'fwdbwd') && pos.length === 3) return { ...o, op: `attention-${pos[1]}`, n: int0(pos[2]) };
  throw new Error(`usage: matmul N | attention fwd|fwdbwd N [--causal 0|1] [--heads H] [--head-dim D] [--threads T] [--warmup W] [--repeats R] [--max-seconds S] [--out FILE]; got: ${argv.join(' ')}`);
}
function int0(s) {
  const v = Number(s);
  if (!Number.isInteger(v) || v < 1) throw new Error(`N must be a positive integer, got '${s}'`);
  return v;
}

const MiB = 2 ** 20;
export const rssMiB = () => process.memoryUsage.rss() / MiB;
export const peakRssMiB = () => (process.resourceUsage().maxRSS * 1024) / MiB;
const gc = globalThis.gc ?? (() => {});

/**
 * Times `run` (async or not): `warmup` untimed calls, then up to `repeats` timed ones, stopping once the
 * timed ones took `maxSeconds` (after at least one). Garbage is collected between calls (with
 * node --expose-gc), outside the timing. Returns the median and every run in ms, and the last result.
 */
export async function timeRuns(run, o) {
  let last;
  for (let i = 0; i < o.warmup; i++) {
    last = await run();
    gc();
  }
  const ms = [];
  let total = 0;
  for (let r = 0; r < o.repeats; r++) {
    if (r > 0 && total > o.maxSeconds * 1000) break;
    last = undefined; // let the previous result go before the next run
    gc();
    const t0 = performance.now();
    last = await run();
    const t = performance.now() - t0;
    ms.push(t);
    total += t;
  }
  return { msMedian: median(ms), msRuns: ms.map((v) => Math.round(v * 1000) / 1000), last };
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Writes the arrays one after another to `file` (float32, little-endian: every machine Node runs on). */
export function writeOutputs(file, arrays) {
  writeFileSync(file, new Uint8Array(0));
  for (const a of arrays) appendFileSync(file, new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
}

/** The JSON line of one measurement (fields shared with kernels.ts and torch_kernels.py). */
export function result(peer, w, t, extra) {
  const f = flops(w);
  return {
    workload: 'kernel',
    peer,
    op: w.op,
    n: w.n,
    ...(w.op === 'matmul' ? {} : { heads: w.heads, headDim: w.headDim, causal: w.causal }),
    threads: w.threads,
    msMedian: t.msMedian,
    msRuns: t.msRuns,
    warmup: w.warmup,
    flops: f,
    gflops: f / (t.msMedian / 1000) / 1e9,
    ...extra,
  };
}

/** Prints a JSON line saying this measurement was not run, and why. */
export function skip(peer, w, reason, extra = {}) {
  console.log(JSON.stringify({ workload: 'kernel', peer, op: w.op, n: w.n, causal: w.causal ?? false, threads: w.threads, skipped: reason, ...extra }));
}
