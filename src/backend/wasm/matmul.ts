/**
 * The wasm backend's matmul (see wasm/matmul.ts for the kernel: packed panels, a 4 x 8 f32x4 register tile,
 * every C element accumulated in float32 over q = 0..k-1 in order).
 *
 * This wrapper merges batches that are one tall product (x @ W with x [..., m, k]: A blocks back to back,
 * one shared B), picks how many threads run it (one below `minThreadMacs`, where the hand-off costs more
 * than it saves), splits the work (whole batch items per thread when there are enough of them, else rows of
 * C, or columns when there are few rows) and sizes the per-thread packing scratch. The split never changes
 * a result: each C element is computed by one thread, in the same order whatever the split.
 */
import { mergeSharedB, type MatmulKernels, type MatmulParams } from '../kernels/matmul.js';
import { call, type KernelCall } from './runtime.js';

const MR = 4;
const NR = 8;

export interface WasmMatmulOptions {
  /** Block of k packed at a time (values of k per packed panel). */
  kc: number;
  /** Rows of op(A) packed at a time (a multiple of 4). */
  mc: number;
  /** Columns of op(B) packed at a time (a multiple of 8). */
  nc: number;
  /** Products with fewer multiply-adds (batch·m·k·n) run on the calling thread alone. */
  minThreadMacs: number;
  /** Products with fewer rows than this take the few-rows path (no packing of B)... */
  rowsPathMaxM: number;
  /** ... and so do products of at most this many multiply-adds (batch·m·k·n), where packing costs more than it saves. */
  rowsPathMaxMacs: number;
}

const settings: WasmMatmulOptions = { kc: 256, mc: 128, nc: 1024, minThreadMacs: 1 << 18, rowsPathMaxM: 4, rowsPathMaxMacs: 1 << 13 };

/** Changes the blocking and threading settings (for benchmarks and tests); returns the current ones. */
export function configureWasmMatmul(opts: Partial<WasmMatmulOptions> = {}): WasmMatmulOptions {
  if (opts.kc !== undefined) settings.kc = Math.max(1, Math.floor(opts.kc));
  if (opts.mc !== undefined) settings.mc = Math.max(MR, Math.ceil(opts.mc / MR) * MR);
  if (opts.nc !== undefined) settings.nc = Math.max(NR, Math.ceil(opts.nc / NR) * NR);
  if (opts.minThreadMacs !== undefined) settings.minThreadMacs = Math.max(0, opts.minThreadMacs);
  if (opts.rowsPathMaxM !== undefined) settings.rowsPathMaxM = Math.max(0, opts.rowsPathMaxM);
  if (opts.rowsPathMaxMacs !== undefined) settings.rowsPathMaxMacs = Math.max(0, opts.rowsPathMaxMacs);
  return { ...settings };
}

/**
 * Row and column parts of each product, for `threads` threads that take contiguous runs of the
 * batch·mparts·nparts tasks: whole products when the batch divides evenly (or is large enough that the
 * imbalance is small), else each product split by rows (by columns when it has too few rows).
 */
function split(batch: number, m: number, n: number, threads: number): [number, number] {
  if (threads <= 1 || batch % threads === 0 || batch >= 4 * threads) return [1, 1];
  const rowPanels = Math.ceil(m / MR);
  const colPanels = Math.ceil(n / NR);
  if (rowPanels >= 4 * threads || rowPanels >= colPanels) return [Math.min(threads, rowPanels), 1];
  return [1, Math.min(threads, colPanels)];
}

function matmulWasm(a: Float32Array, b: Float32Array, p: MatmulParams): Float32Array {
  const { batch, m, aOffsets } = mergeSharedB(p);
  const { k, n, transA, transB, bOffsets } = p;
  return call((c) => {
    const out = c.outF32(batch * m * n);
    if (out.length === 0) return out;
    if (k === 0) return out.fill(0); // empty sums are +0, as in the reference
    const pool = c.r.pool;
    const macs = batch * m * n * k;
    const threads = macs >= settings.minThreadMacs ? Math.min(pool.requested, pool.threads) : 1;
    const flags = (transA ? 1 : 0) | (transB ? 2 : 0);
    // Operands: a base pointer and, when the offsets are evenly spaced (the usual case), a step instead of a table.
    const [pa, pao, aStep] = operand(c, a, aOffsets);
    const [pb, pbo, bStep] = operand(c, b, bOffsets);
    if (m < settings.rowsPathMaxM || macs <= settings.rowsPathMaxMacs) {
      const nparts = threads <= 1 || batch % threads === 0 || batch >= 4 * threads ? 1 : Math.min(threads, Math.ceil(n / NR));
      const stride = transA ? Math.ceil((4 * k) / 64) * 64 : 0;
      const scratch = stride > 0 ? c.scratch(stride * threads) : 0;
      pool.run('matmul_f32_rows', [pa, pb, out.byteOffset, pao, aStep, pbo, bStep, batch, m, k, n, flags, nparts, scratch, stride], threads);
      return out;
    }
    const [mparts, nparts] = split(batch, m, n, threads);
    const { kc: kcMax, mc: mcMax, nc: ncMax } = settings;
    const kc = Math.min(kcMax, k);
    const nc = Math.min(ncMax, Math.ceil(n / nparts / NR) * NR);
    const mc = Math.min(mcMax, Math.ceil(m / MR) * MR); // not m / mparts: a thread merges adjacent row parts
    const stride = Math.ceil((4 * (Math.ceil(nc / NR) * NR * kc + Math.ceil(mc / MR) * MR * kc + MR * NR)) / 64) * 64;
    const scratch = c.scratch(stride * threads);
    pool.run('matmul_f32', [pa, pb, out.byteOffset, pao, aStep, pbo, bStep, batch, m, k, n, flags, mparts, nparts, kcMax, mcMax, ncMax, scratch, stride], threads);
    return out;
  });
}

/**
 * An operand's [base pointer, offset table pointer or 0, step]: item b starts at base + 4 (table[b] or b step).
 * Evenly spaced offsets (one matrix after another, or all equal: a broadcast operand) need no table.
 */
function operand(c: KernelCall, x: Float32Array, offsets: Int32Array): [number, number, number] {
  const base = c.inF32(x);
  const o0 = offsets[0];
  const step = offsets.length > 1 ? offsets[1] - o0 : 0;
  let even = true;
  for (let i = 2; i < offsets.length && even; i++) even = offsets[i] - offsets[i - 1] === step;
  if (even && step >= 0) return [base + 4 * o0, 0, step];
  return [base, c.inI32(offsets), 0];
}

export const matmulKernels: Partial<MatmulKernels> = { matmul: matmulWasm };
