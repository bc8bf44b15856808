/**
 * Fast matmul in plain TypeScript, bitwise equal to the reference matmul.
 *
 * Exactness. The reference accumulates every output element in float64 (a JS number), starting from +0
 * and adding the products a[i][q] * b[q][j] for q = 0..k-1 in order, then rounds once to float32. A
 * product of two float32 values is exact in float64, so the result depends only on that order of the
 * additions. This kernel keeps exactly that: each output has its own float64 accumulator that starts at 0
 * and receives the products in the order q = 0..k-1; only the order in which *different* outputs are
 * computed changes. Hence the results are bitwise equal to the reference (signed zeros, infinities and
 * overflow included), whatever the tile, the packing or the split between threads. One exception, which no
 * JS code can control: where two NaNs with different bits meet in one sum (say an input NaN and the NaN of
 * inf - inf), which one's sign and payload survive depends on the operand order V8 picks for the machine
 * instruction, so such an output is NaN in both but its bits may differ.
 *
 * Speed. op(A) and op(B) (transposes applied) are first packed into float64 panels: op(A) as panels of
 * MR = 3 rows, stored q-major ([q][r], 3 values per q), and op(B) as panels of NR = 4 columns ([q][c]),
 * zero-padded at the edges, all in one Float64Array. The micro-kernel then computes a 3 x 4 tile of C in
 * 12 local float64 accumulators while streaming the two panels contiguously: per q it loads 7 values and
 * does 12 multiply-adds. V8 uses only 16 xmm registers, and 12 accumulators + 7 operands is about what
 * fits; measured on the GPT shapes (2-vCPU AMD EPYC VM, Node 20, best of 15), 3x4, 4x3 and 3x3 reach
 * ~4.6-5 GFLOP/s on one core, 2x4 / 4x2 / 2x6 about 10% less, and 4x4 / 4x8 / 2x8 less still (V8 spills
 * accumulators; its loop hoists all loads ahead of the multiply-adds). The loop is
 * bound by V8's per-load bounds checks and index arithmetic rather than by the floating point; unrolling
 * over q did not help. 3 x 4 rather than 4 x 3 because the column counts of the GPT shapes (384, 512, 128,
 * 64, 32) are multiples of 4, and batches that share B with consecutive A blocks are merged into one tall
 * product (768 rows, a multiple of 3).
 *
 * Threads. For large products, the rows of C are shared with one helper worker thread (node:worker_threads)
 * through a SharedArrayBuffer holding the packed panels and the output; the calling thread blocks in
 * Atomics.wait until the worker's share is done, so the kernel stays synchronous. Work is handed out in
 * chunks of row panels claimed with compareExchange, so a worker that is slow to wake (or a busy core) only
 * means the calling thread does more of the chunks itself. Each output element is still computed by one
 * thread in the reference order, so results do not depend on the split. Only products of at least
 * `minWorkerMacs` (2^20 multiply-adds) are split: below that the hand-off costs more than it saves. Whether
 * the split pays at all depends on a second core being free, so by default each product shape is timed both
 * ways now and then and runs the faster way (see `choose`). The worker is started lazily (the first large
 * product), unref'd (it never keeps the process alive), and when worker_threads or SharedArrayBuffer is
 * unavailable, or with `configureJsMatmul({ workers: false })` / QKV_JS_WORKERS=0, everything runs on the
 * calling thread.
 */
import { matmul as referenceMatmul } from '../reference/matmul.js';
import { mergeSharedB, type MatmulKernels, type MatmulParams } from '../kernels/matmul.js';

/** Rows of a packed op(A) panel and of the register tile. */
const MR = 3;
/** Columns of a packed op(B) panel and of the register tile. */
const NR = 4;

/**
 * The micro-kernel loop: computes the row panels ("items") item0..item1-1 of a packed batch product.
 * Item t is row panel ip = t mod mp of batch bi = floor(t / mp) (mp = ceil(m / 3)); its op(A) panels start
 * at P[I[tabOff + 2 bi]] and its op(B) panels at P[I[tabOff + 2 bi + 1]]; C[bi] starts at C[cOff + bi m n].
 *
 * Self-contained on purpose (no outer names, no helpers): its source text is also what the worker runs.
 */
export function computeTiles(P: Float64Array, I: Int32Array, C: Float32Array, m: number, k: number, n: number, tabOff: number, cOff: number, item0: number, item1: number): void {
  const mp = ((m + 2) / 3) | 0;
  const mn = m * n;
  const aStride = 3 * k;
  const bStride = 4 * k;
  const n2 = 2 * n;
  for (let t = item0; t < item1; t++) {
    const bi = (t / mp) | 0;
    const ip = t - bi * mp;
    const aBase = I[tabOff + 2 * bi] + ip * aStride;
    let bBase = I[tabOff + 2 * bi + 1];
    const i0 = ip * 3;
    const rows = m - i0 < 3 ? m - i0 : 3;
    const o0 = cOff + bi * mn + i0 * n;
    for (let j0 = 0; j0 < n; j0 += 4, bBase += bStride) {
      let c00 = 0, c01 = 0, c02 = 0, c03 = 0;
      let c10 = 0, c11 = 0, c12 = 0, c13 = 0;
      let c20 = 0, c21 = 0, c22 = 0, c23 = 0;
      for (let q = 0, ai = aBase, bj = bBase; q < k; q++, ai += 3, bj += 4) {
        const a0 = P[ai], a1 = P[ai + 1], a2 = P[ai + 2];
        const b0 = P[bj], b1 = P[bj + 1], b2 = P[bj + 2], b3 = P[bj + 3];
        c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
        c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
        c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
      }
      const o = o0 + j0;
      if (rows === 3 && j0 + 4 <= n) {
        C[o] = c00; C[o + 1] = c01; C[o + 2] = c02; C[o + 3] = c03;
        C[o + n] = c10; C[o + n + 1] = c11; C[o + n + 2] = c12; C[o + n + 3] = c13;
        C[o + n2] = c20; C[o + n2 + 1] = c21; C[o + n2 + 2] = c22; C[o + n2 + 3] = c23;
      } else {
        // Edge tile: store only the rows and columns inside C (the padded lanes computed zeros or junk).
        const cols = n - j0;
        C[o] = c00;
        if (cols > 1) C[o + 1] = c01;
        if (cols > 2) C[o + 2] = c02;
        if (cols > 3) C[o + 3] = c03;
        if (rows > 1) {
          C[o + n] = c10;
          if (cols > 1) C[o + n + 1] = c11;
          if (cols > 2) C[o + n + 2] = c12;
          if (cols > 3) C[o + n + 3] = c13;
        }
        if (rows > 2) {
          C[o + n2] = c20;
          if (cols > 1) C[o + n2 + 1] = c21;
          if (cols > 2) C[o + n2 + 2] = c22;
          if (cols > 3) C[o + n2 + 3] = c23;
        }
      }
    }
  }
}

/** Packs op(A) [m, k] (A at `ao`, stored [k, m] when transA) into ceil(m / MR) panels at P[pos]. Returns the length. */
function packA(a: Float32Array, ao: number, m: number, k: number, transA: boolean, P: Float64Array, pos: number): number {
  const mp = Math.ceil(m / MR);
  const panel = k * MR;
  const len = mp * panel;
  if (m % MR !== 0) P.fill(0, pos + (mp - 1) * panel, pos + len); // zero rows of the last, partial panel
  if (transA) {
    for (let q = 0; q < k; q++) {
      const src = ao + q * m;
      const dq = pos + q * MR;
      for (let ip = 0, i = 0; i < m; ip++) {
        const d = dq + ip * panel;
        for (let r = 0; r < MR && i < m; r++, i++) P[d + r] = a[src + i];
      }
    }
  } else {
    for (let i = 0; i < m; i++) {
      const ip = (i / MR) | 0;
      const d = pos + ip * panel + (i - ip * MR);
      const src = ao + i * k;
      for (let q = 0; q < k; q++) P[d + q * MR] = a[src + q];
    }
  }
  return len;
}

/** Packs op(B) [k, n] (B at `bo`, stored [n, k] when transB) into ceil(n / NR) panels at P[pos]. Returns the length. */
function packB(b: Float32Array, bo: number, k: number, n: number, transB: boolean, P: Float64Array, pos: number): number {
  const np = Math.ceil(n / NR);
  const panel = k * NR;
  const len = np * panel;
  if (n % NR !== 0) P.fill(0, pos + (np - 1) * panel, pos + len);
  if (transB) {
    for (let j = 0; j < n; j++) {
      const jp = (j / NR) | 0;
      const d = pos + jp * panel + (j - jp * NR);
      const src = bo + j * k;
      for (let q = 0; q < k; q++) P[d + q * NR] = b[src + q];
    }
  } else {
    for (let q = 0; q < k; q++) {
      const src = bo + q * n;
      const dq = pos + q * NR;
      for (let jp = 0, j = 0; j < n; jp++) {
        const d = dq + jp * panel;
        for (let c = 0; c < NR && j < n; c++, j++) P[d + c] = b[src + j];
      }
    }
  }
  return len;
}

// ---------------------------------------------------------------------------------------------------------
// Scratch memory: packed panels, the offset table and (for threaded products) the output, in one buffer
// that is shared with the worker when SharedArrayBuffer exists. Grown as needed, never shrunk.

const canShare = typeof SharedArrayBuffer === 'function' && typeof Atomics === 'object';
let scratch: ArrayBuffer | SharedArrayBuffer = canShare ? new SharedArrayBuffer(1 << 16) : new ArrayBuffer(1 << 16);
let P64 = new Float64Array(scratch);
let I32 = new Int32Array(scratch);
let F32 = new Float32Array(scratch);
/** Bumped whenever `scratch` is replaced, so that the worker knows to fetch the new buffer. */
let scratchGen = 0;

function ensureScratch(bytes: number): void {
  if (scratch.byteLength >= bytes) return;
  const size = Math.ceil(Math.max(bytes, scratch.byteLength * 1.5) / 8) * 8;
  scratch = canShare ? new SharedArrayBuffer(size) : new ArrayBuffer(size);
  P64 = new Float64Array(scratch);
  I32 = new Int32Array(scratch);
  F32 = new Float32Array(scratch);
  scratchGen++;
  if (helper !== null) helper.port.postMessage({ gen: scratchGen, buffer: scratch });
}

// ---------------------------------------------------------------------------------------------------------
// The helper worker.

/** Slots of the control array shared with the worker (Int32). */
const SEQ = 0; // job number, bumped (and notified) for each threaded job
const NEXT = 1; // the claim word: total chunks << 12 | next chunk index
const DONE = 2; // chunks finished in the current job
const READY = 3; // 1 once the worker runs its loop
const FAILED = 4; // set by the worker if it threw (the calling thread then redoes the job alone)
const GEN = 5; // scratch generation of the job
const PM = 6, PK = 7, PN = 8, PTAB = 9, PCOFF = 10, PITEMS = 11, PCHUNK = 12;
const SPIN = 13; // microseconds the worker keeps polling for the next job before it sleeps
const CTRL_SLOTS = 16;
/** Chunk counts fit in 12 bits of the claim word. */
const MAX_CHUNKS = 4095;

/**
 * The worker's program. Runs as an eval'd CommonJS script; `computeTiles` is pasted in from its source text.
 *
 * Protocol. For each threaded job the calling thread writes the parameters, resets DONE, stores SEQ and then
 * the claim word NEXT = total << 12 | 0, and notifies SEQ. Both threads claim chunks by compareExchange on
 * NEXT while index < total. A successful claim pins the job: it cannot finish (and the caller cannot write
 * the next job's parameters) before the claimed chunk is done, and its SEQ was stored before its NEXT, so
 * reading SEQ and the parameters *after* the claim always gives the claimed chunk's job. The claiming
 * thread computes the chunk and adds 1 to DONE; the caller waits until DONE == total.
 */
const workerSource = (computeSrc: string): string => `
'use strict';
const { workerData, receiveMessageOnPort } = require('node:worker_threads');
const computeTiles = (${computeSrc});
const ctrl = new Int32Array(workerData.ctrl);
const port = workerData.port;
let gen = workerData.gen, P = new Float64Array(workerData.buffer), I = new Int32Array(workerData.buffer), C = new Float32Array(workerData.buffer);
function refresh(want) {
  while (gen !== want) {
    const msg = receiveMessageOnPort(port);
    if (msg === undefined) continue; // posted before the job was published: it is there, or about to be
    gen = msg.message.gen;
    P = new Float64Array(msg.message.buffer); I = new Int32Array(msg.message.buffer); C = new Float32Array(msg.message.buffer);
  }
}
Atomics.store(ctrl, ${READY}, 1);
let seen = 0;
const now = () => performance.now();
for (;;) {
  // Poll for a while before sleeping: waking a sleeping thread can take far longer than a small product.
  const spin = Atomics.load(ctrl, ${SPIN}) / 1000;
  if (spin > 0) {
    const t0 = now();
    while (Atomics.load(ctrl, ${SEQ}) === seen && now() - t0 < spin);
  }
  Atomics.wait(ctrl, ${SEQ}, seen);
  seen = Atomics.load(ctrl, ${SEQ});
  let job = -1, m = 0, k = 0, n = 0, tab = 0, cOff = 0, items = 0, chunk = 0;
  for (;;) {
    const v = Atomics.load(ctrl, ${NEXT});
    const idx = v & 0xfff;
    if (idx >= (v >>> 12)) break;
    if (Atomics.compareExchange(ctrl, ${NEXT}, v, v + 1) !== v) continue;
    const s = Atomics.load(ctrl, ${SEQ});
    if (s !== job) {
      job = s; seen = s;
      m = ctrl[${PM}]; k = ctrl[${PK}]; n = ctrl[${PN}]; tab = ctrl[${PTAB}]; cOff = ctrl[${PCOFF}];
      items = ctrl[${PITEMS}]; chunk = ctrl[${PCHUNK}];
      refresh(ctrl[${GEN}]);
    }
    try {
      const t0 = idx * chunk;
      computeTiles(P, I, C, m, k, n, tab, cOff, t0, Math.min(items, t0 + chunk));
    } catch (e) {
      Atomics.store(ctrl, ${FAILED}, 1);
    }
    Atomics.add(ctrl, ${DONE}, 1);
    Atomics.notify(ctrl, ${DONE});
  }
}
`;

interface Helper {
  worker: { unref(): void; ref(): void; terminate(): Promise<number> };
  port: { postMessage(v: unknown): void; unref?: () => void };
  ctrl: Int32Array;
  ready: Promise<boolean>;
}

let helper: Helper | null = null;
/** 'idle': not tried yet; 'loading': importing node:worker_threads; 'failed': unavailable. */
let helperState: 'idle' | 'loading' | 'started' | 'failed' = 'idle';
let helperStart: Promise<boolean> | null = null;

const envWorkers = typeof process === 'object' && process?.env?.QKV_JS_WORKERS;
const settings = {
  workers: envWorkers !== '0' && envWorkers !== 'false',
  /** Multiply-adds (batch m n k) from which a product is split with the worker. */
  minWorkerMacs: 1 << 20,
  /** Microseconds the worker polls for the next product before it sleeps. */
  spinMicros: 200,
  /** Time both ways per product shape and use the worker only where it is faster (see `choose`). */
  adaptive: true,
};

/** Counters, for tests and benchmarks. */
const stats = { calls: 0, threadedCalls: 0, chunks: 0, workerChunks: 0, probes: 0 };

/**
 * Whether a second thread pays depends on whether a second core is free, which no threshold can tell: on a
 * quiet 2-vCPU machine the worker made large products 1.1-2.3x faster (typically ~1.5x), while next to
 * another busy process it made them ~5-10% slower. So, per product shape, the milliseconds of both ways are kept as moving
 * averages: a shape's first eligible product runs with the worker, its second without, then it runs the
 * faster way (the worker only if >= 5% faster), re-timing the other way every PROBE_EVERY-th product so
 * that the choice follows the load. This only picks who computes which rows: results are the same bits.
 */
interface ShapeTiming {
  one: number; // moving average of ms, one thread (NaN: not timed yet)
  two: number; // with the worker
  count: number;
}
const timings = new Map<string, ShapeTiming>();
const PROBE_EVERY = 16;

function choose(key: string): { timing: ShapeTiming; threaded: boolean } {
  let timing = timings.get(key);
  if (timing === undefined) {
    if (timings.size >= 512) timings.clear();
    timing = { one: NaN, two: NaN, count: 0 };
    timings.set(key, timing);
  }
  const c = timing.count++;
  if (Number.isNaN(timing.two)) return { timing, threaded: true };
  if (Number.isNaN(timing.one)) return { timing, threaded: false };
  const best = timing.two < 0.95 * timing.one;
  const probe = c % PROBE_EVERY === 0;
  if (probe) stats.probes++;
  return { timing, threaded: probe ? !best : best };
}

function record(timing: ShapeTiming, threaded: boolean, ms: number): void {
  const old = threaded ? timing.two : timing.one;
  const avg = Number.isNaN(old) ? ms : 0.7 * old + 0.3 * ms;
  if (threaded) timing.two = avg;
  else timing.one = avg;
}

type WorkerThreads = typeof import('node:worker_threads');

/** Starts the worker; resolves true once it runs its loop. Never throws: failure means one thread. */
function startHelper(): Promise<boolean> {
  if (helperStart !== null) return helperStart;
  if (!canShare) {
    helperState = 'failed';
    return (helperStart = Promise.resolve(false));
  }
  // Synchronously where possible (Node >= 20.16), so that even a program that never yields to the event
  // loop gets the worker; else through a dynamic import (and not at all where there is no node:worker_threads).
  let wt: WorkerThreads | undefined;
  try {
    wt = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process?.getBuiltinModule?.('node:worker_threads') as WorkerThreads | undefined;
  } catch {
    wt = undefined;
  }
  if (wt !== undefined) {
    helperStart = spawnHelper(wt);
  } else {
    helperState = 'loading';
    helperStart = import('node:worker_threads').then(spawnHelper, () => {
      helperState = 'failed';
      return false;
    });
  }
  return helperStart;
}

function spawnHelper(wt: WorkerThreads): Promise<boolean> {
  try {
    const ctrlBuf = new SharedArrayBuffer(CTRL_SLOTS * 4);
    const ctrl = new Int32Array(ctrlBuf);
    const { port1, port2 } = new wt.MessageChannel();
    const worker = new wt.Worker(workerSource(computeTiles.toString()), {
      eval: true,
      workerData: { ctrl: ctrlBuf, port: port2, buffer: scratch, gen: scratchGen },
      transferList: [port2],
    });
    worker.unref();
    port1.unref();
    const h: Helper = { worker, port: port1, ctrl, ready: Promise.resolve(false) };
    helper = h;
    helperState = 'started';
    const drop = (): void => {
      if (helper === h) {
        helper = null;
        helperState = 'failed';
      }
    };
    worker.on('error', drop);
    worker.on('exit', drop);
    h.ready = new Promise<boolean>((resolve) => {
      // Poll (a timer that keeps the process up meanwhile) until the worker runs its loop.
      const poll = (): void => {
        if (helper !== h) resolve(false);
        else if (Atomics.load(ctrl, READY) === 1) resolve(true);
        else setTimeout(poll, 1);
      };
      poll();
    });
    return h.ready;
  } catch {
    helperState = 'failed';
    return Promise.resolve(false);
  }
}

/** Options of the js matmul. */
export interface JsMatmulOptions {
  /** Use a helper worker thread for large products (default true; env QKV_JS_WORKERS=0 turns it off). */
  workers?: boolean;
  /** Smallest product, in multiply-adds (batch·m·n·k), that is split with the worker (default 2^20). */
  minWorkerMacs?: number;
  /** Microseconds the worker keeps polling for the next product before it sleeps (default 200). */
  spinMicros?: number;
  /**
   * Time products of each shape with and without the worker and use the faster way (default true); false
   * always uses the worker for products from `minWorkerMacs` on.
   */
  adaptive?: boolean;
}

/** The current options. */
export function jsMatmulOptions(): Required<JsMatmulOptions> {
  return { ...settings };
}

/** Sets some options (the others keep their values). */
export function configureJsMatmul(opts: JsMatmulOptions): void {
  if (opts.workers !== undefined) settings.workers = opts.workers;
  if (opts.minWorkerMacs !== undefined) settings.minWorkerMacs = opts.minWorkerMacs;
  if (opts.spinMicros !== undefined) settings.spinMicros = opts.spinMicros;
  if (opts.adaptive !== undefined && opts.adaptive !== settings.adaptive) {
    settings.adaptive = opts.adaptive;
    timings.clear();
  }
}

/**
 * Starts the helper worker now (instead of at the first large product) and resolves true once it is
 * ready, false when workers are unavailable or disabled.
 */
export function startJsMatmulWorker(): Promise<boolean> {
  if (!settings.workers) return Promise.resolve(false);
  return startHelper().then((ok) => (ok && helper !== null ? helper.ready : false));
}

/** Stops the helper worker (a later large product starts a new one). */
export async function stopJsMatmulWorker(): Promise<void> {
  const h = helper;
  helper = null;
  helperStart = null;
  helperState = 'idle';
  if (h !== null) await h.worker.terminate();
}

/**
 * Counters since the start: calls, calls split with the worker, their chunks and those the worker computed,
 * and adaptive probes (products run the way that is not the current choice, to re-time it).
 */
export function jsMatmulStats(): { calls: number; threadedCalls: number; chunks: number; workerChunks: number; probes: number; worker: string } {
  return { ...stats, worker: helper !== null && Atomics.load(helper.ctrl, READY) === 1 ? 'ready' : helperState };
}

// ---------------------------------------------------------------------------------------------------------
// The kernel.

let threadedSeq = 0;

function matmulJs(a: Float32Array, b: Float32Array, p: MatmulParams): Float32Array {
  const { batch, m, aOffsets } = mergeSharedB(p);
  const { k, n, transA, transB, bOffsets } = p;
  stats.calls++;
  if (batch * m * n === 0 || k === 0) return new Float32Array(batch * m * n); // empty sums are +0, as in the reference

  // One or two rows (a decoding step with the KV cache): packing B would cost as much as the product
  // itself, so the reference loop (same order of additions, so the same bits) is faster here.
  if (m < 3) return referenceMatmul.matmul(a, b, p);
  const out = new Float32Array(batch * m * n);

  const mp = Math.ceil(m / MR);
  const np = Math.ceil(n / NR);
  const aLen = mp * MR * k;
  const bLen = np * NR * k;
  const items = batch * mp;
  const macs = batch * m * n * k;

  // Count the distinct operands (broadcast batches share one packed copy).
  let aUnique = 1, bUnique = 1;
  for (let bi = 1; bi < batch; bi++) {
    if (aOffsets[bi] !== aOffsets[bi - 1]) aUnique++;
    if (bOffsets[bi] !== bOffsets[bi - 1]) bUnique++;
  }
  const pLen = aUnique * aLen + bUnique * bLen; // an upper bound: non-adjacent repeats are packed once too
  const tabOff = 2 * pLen; // in Int32 units
  const threaded = settings.workers && canShare && macs >= settings.minWorkerMacs;
  const cOff = tabOff + 2 * batch; // in Float32 units
  ensureScratch(4 * (cOff + (threaded ? batch * m * n : 0)));

  // Pack.
  const P = P64, I = I32;
  let pos = 0;
  const aSeen = batch > 1 && aUnique < batch ? new Map<number, number>() : null;
  const bSeen = batch > 1 && bUnique < batch ? new Map<number, number>() : null;
  for (let bi = 0; bi < batch; bi++) {
    const ao = aOffsets[bi];
    let pa = aSeen?.get(ao);
    if (pa === undefined) {
      pa = pos;
      pos += packA(a, ao, m, k, transA, P, pos);
      aSeen?.set(ao, pa);
    }
    const bo = bOffsets[bi];
    let pb = bSeen?.get(bo);
    if (pb === undefined) {
      pb = pos;
      pos += packB(b, bo, k, n, transB, P, pos);
      bSeen?.set(bo, pb);
    }
    I[tabOff + 2 * bi] = pa;
    I[tabOff + 2 * bi + 1] = pb;
  }

  if (threaded) {
    if (helper === null) {
      if (helperState === 'idle') void startHelper();
    } else if (Atomics.load(helper.ctrl, READY) === 1) {
      if (!settings.adaptive) {
        runThreaded(helper, out, m, k, n, tabOff, cOff, items);
        return out;
      }
      const { timing, threaded: two } = choose(`${batch},${m},${k},${n},${transA ? 1 : 0}${transB ? 1 : 0}`);
      const t0 = performance.now();
      if (two) runThreaded(helper, out, m, k, n, tabOff, cOff, items);
      else computeTiles(P, I, out, m, k, n, tabOff, 0, 0, items);
      record(timing, two, performance.now() - t0);
      return out;
    }
  }
  computeTiles(P, I, out, m, k, n, tabOff, 0, 0, items);
  return out;
}

function runThreaded(h: Helper, out: Float32Array, m: number, k: number, n: number, tabOff: number, cOff: number, items: number): void {
  const ctrl = h.ctrl;
  // ~32 chunks (at most MAX_CHUNKS): fine enough that the threads finish together, coarse enough that
  // claiming costs nothing.
  const chunk = Math.max(1, Math.ceil(items / Math.min(32, MAX_CHUNKS)));
  const total = Math.ceil(items / chunk);
  ctrl[PM] = m; ctrl[PK] = k; ctrl[PN] = n; ctrl[PTAB] = tabOff; ctrl[PCOFF] = cOff;
  ctrl[PITEMS] = items; ctrl[PCHUNK] = chunk; ctrl[GEN] = scratchGen;
  Atomics.store(ctrl, SPIN, Math.max(0, Math.min(1e6, Math.round(settings.spinMicros))));
  Atomics.store(ctrl, FAILED, 0);
  Atomics.store(ctrl, DONE, 0);
  threadedSeq = (threadedSeq + 1) | 0;
  Atomics.store(ctrl, SEQ, threadedSeq);
  Atomics.store(ctrl, NEXT, total << 12);
  Atomics.notify(ctrl, SEQ);

  // Claim chunks alongside the worker; ours write straight into `out`, the worker's into the shared C.
  const mine = new Uint8Array(total);
  const P = P64, I = I32, C = F32;
  for (;;) {
    const v = Atomics.load(ctrl, NEXT);
    const idx = v & 0xfff;
    if (idx >= total) break;
    if (Atomics.compareExchange(ctrl, NEXT, v, v + 1) !== v) continue;
    mine[idx] = 1;
    const t0 = idx * chunk;
    computeTiles(P, I, out, m, k, n, tabOff, 0, t0, Math.min(items, t0 + chunk));
    Atomics.add(ctrl, DONE, 1);
  }
  // The worker is finishing its last chunk: poll (a sleeping thread wakes slowly), then sleep if it lasts.
  const t0 = performance.now();
  while (Atomics.load(ctrl, DONE) !== total && performance.now() - t0 < 2);
  for (let d = Atomics.load(ctrl, DONE); d !== total; d = Atomics.load(ctrl, DONE)) Atomics.wait(ctrl, DONE, d);

  stats.threadedCalls++;
  stats.chunks += total;
  if (Atomics.load(ctrl, FAILED) === 1) {
    // The worker threw (it should not): redo the whole product here, and stop using the worker.
    computeTiles(P, I, out, m, k, n, tabOff, 0, 0, items);
    void stopJsMatmulWorker();
    settings.workers = false;
    return;
  }
  // Copy the worker's chunks: each is a contiguous run of rows of C.
  const mp = Math.ceil(m / MR);
  for (let c = 0; c < total; c++) {
    if (mine[c] === 1) continue;
    stats.workerChunks++;
    const t0 = c * chunk;
    const t1 = Math.min(items, t0 + chunk) - 1;
    const b0 = Math.floor(t0 / mp), b1 = Math.floor(t1 / mp);
    const start = (b0 * m + (t0 - b0 * mp) * MR) * n;
    const end = (b1 * m + Math.min(m, (t1 - b1 * mp + 1) * MR)) * n;
    out.set(C.subarray(cOff + start, cOff + end), start);
  }
}

export const matmul: MatmulKernels = {
  matmul: matmulJs,
};
