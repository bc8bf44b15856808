/**
 * The wasm backend's elementwise, reduction and layout kernels (wasm/elementwise.ts): this side collapses
 * shapes into a few strided axes, lays out the small int32 tables the kernels read, and picks the thread
 * count by the size of the work.
 *
 * Every kernel of the three interfaces runs in WebAssembly except:
 * - `pow` (binary and scalar): the reference kernel (AssemblyScript's pow needs lookup tables, i.e. static
 *   data, which the kernel ABI forbids; no training step uses pow on tensors);
 * - `sum` over axes that are not one contiguous run (e.g. [0, 2] of a 3-d tensor): the reference.
 *
 * Exactness against the reference (which computes in float64 and rounds once):
 * - bitwise equal: binary/scalar add, sub, mul, div, maximum, minimum and comparisons; neg, abs, relu,
 *   sqrt, rsqrt and the derivatives of neg, exp, abs, relu, tanh, sigmoid; sum over leading/middle axes
 *   (float64, same order); broadcastTo, max, and every layout kernel (pure data movement);
 * - within one float32 rounding: sum over trailing axes (float64 partial sums in another order); the
 *   derivatives of log, sqrt (dy / x, 0.5 dy / y) and rsqrt (float64, another formula);
 * - within a few float32 ulps: exp, log, tanh, sigmoid, silu, gelu_tanh, gelu_erf and the derivatives of
 *   gelu_tanh, gelu_erf, silu (vectorised float32 approximations; test/wasm-elementwise.test.ts states and
 *   checks the bounds).
 */
import type { BinaryOp, ElementwiseKernels, UnaryOp } from '../kernels/elementwise.js';
import type { ReduceKernels } from '../kernels/reduce.js';
import type { LayoutKernels } from '../kernels/layout.js';
import { elementwise as refElementwise } from '../reference/elementwise.js';
import { reduce as refReduce } from '../reference/reduce.js';
import { numel, strides } from '../../tensor/shape.js';
import { call, type KernelCall, type WasmRuntime } from './runtime.js';

const UNARY: Record<UnaryOp, number> = {
  neg: 0, exp: 1, log: 2, sqrt: 3, rsqrt: 4, abs: 5, tanh: 6, sigmoid: 7, relu: 8, gelu_tanh: 9, gelu_erf: 10, silu: 11,
};

const BINARY: Record<Exclude<BinaryOp, 'pow'>, number> = {
  add: 0, sub: 1, mul: 2, div: 3, maximum: 4, minimum: 5, eq: 6, ne: 7, lt: 8, le: 9, gt: 10, ge: 11,
};

/**
 * Cost per element of each unary op, forward and backward, in units of a binary add (~0.25 ns per element
 * on one thread, in cache; measured): multiplies the element count before the comparison with the
 * parallel threshold.
 */
const UNARY_COST: Record<UnaryOp, number> = {
  neg: 1, exp: 5, log: 12, sqrt: 1.5, rsqrt: 8, abs: 1, tanh: 10, sigmoid: 8, relu: 1, gelu_tanh: 10, gelu_erf: 14, silu: 8,
};
const BACKWARD_COST: Record<UnaryOp, number> = {
  neg: 1, exp: 1, log: 1, sqrt: 1, rsqrt: 8, abs: 1.5, tanh: 3, sigmoid: 2, relu: 1, gelu_tanh: 13, gelu_erf: 22, silu: 10,
};

/**
 * Work (elements x cost) from which a kernel runs on every thread: 65536 adds take ~16 µs on one thread,
 * so two threads save ~8 µs against a hand-off of ~5 µs.
 */
let parallelWork = 65536;

/** Sets the work from which kernels use every thread (tests: 0 splits even one element); returns the old value. */
export function setElementwiseParallelWork(work: number): number {
  const old = parallelWork;
  parallelWork = work;
  return old;
}

function threadsFor(c: KernelCall, work: number): number {
  return work >= parallelWork ? c.r.pool.requested : 1;
}

/** The strides (in elements) with which an operand of `shape`, broadcast to `outShape`, is read. */
function broadcastStrides(shape: readonly number[], outShape: readonly number[]): number[] {
  const r = outShape.length;
  const off = r - shape.length;
  const st = new Array<number>(r).fill(0);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    st[i + off] = shape[i] === 1 ? 0 : acc;
    acc *= shape[i];
  }
  return st;
}

/**
 * Drops axes of size 1 and merges each axis into the one before it where every stride set walks the pair
 * as one axis (outer stride = inner stride x inner size). Always at least one axis.
 */
export function collapse(shape: readonly number[], sets: readonly (readonly number[])[]): { shape: number[]; strides: number[][] } {
  const outShape: number[] = [];
  const out: number[][] = sets.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    const n = shape[d];
    if (n === 1) continue;
    const last = outShape.length - 1;
    if (last >= 0 && sets.every((st, k) => out[k][last] === st[d] * n)) {
      outShape[last] *= n;
      sets.forEach((st, k) => (out[k][last] = st[d]));
    } else {
      outShape.push(n);
      sets.forEach((st, k) => out[k].push(st[d]));
    }
  }
  if (outShape.length === 0) {
    outShape.push(1);
    out.forEach((o) => o.push(0));
  }
  return { shape: outShape, strides: out };
}

/** An int32 table in a temporary block of the call. */
function table(c: KernelCall, values: readonly number[]): number {
  const p = c.scratch(Math.max(4, values.length * 4));
  new Int32Array(c.r.heap.memory.buffer, p, values.length).set(values);
  return p;
}

/** Per-thread odometer scratch for an nd kernel with `nops` operands: [pointer, stride in bytes]. */
function odometer(c: KernelCall, ndim: number, nops: number, threads: number): [number, number] {
  const stride = Math.ceil(((ndim + nops) * 4) / 64) * 64;
  return [c.scratch(stride * threads), stride];
}

/** Bytes of the kernels' constant table (ew_constants in wasm/elementwise.ts). */
const TABLE_BYTES = 1024;
let constants: { r: WasmRuntime; ptr: number } | null = null;

/** The constant table of the polynomial kernels: made once per runtime, never freed. */
function constantTable(r: WasmRuntime): number {
  if (constants === null || constants.r !== r) {
    const ptr = r.heap.temp(TABLE_BYTES);
    const size = (r.exports.ew_constants as (k: number, tid: number, nthreads: number) => number)(ptr, 0, 1);
    if (size !== TABLE_BYTES) throw new Error(`qkv wasm: the elementwise constant table is ${size} bytes, expected ${TABLE_BYTES}`);
    constants = { r, ptr };
  }
  return constants.ptr;
}

function isF32(s: number): boolean {
  return Math.fround(s) === s || s !== s;
}

const elementwise: ElementwiseKernels = {
  unary(op, x) {
    const n = x.length;
    return call((c) => {
      const y = c.outF32(n);
      if (n === 0) return y;
      c.r.pool.run('ew_unary', [UNARY[op], constantTable(c.r), c.inF32(x), y.byteOffset, n], threadsFor(c, n * UNARY_COST[op]));
      return y;
    });
  },

  unaryBackward(op, x, y, dy) {
    const n = x.length;
    return call((c) => {
      const dx = c.outF32(n);
      if (n === 0) return dx;
      const args = [UNARY[op], constantTable(c.r), c.inF32(x), c.inF32(y), c.inF32(dy), dx.byteOffset, n];
      c.r.pool.run('ew_unary_backward', args, threadsFor(c, n * BACKWARD_COST[op]));
      return dx;
    });
  },

  binary(op, a, aShape, b, bShape, outShape) {
    if (op === 'pow') return refElementwise.binary(op, a, aShape, b, bShape, outShape);
    const total = numel(outShape);
    const { shape, strides: st } = collapse(outShape, [broadcastStrides(aShape, outShape), broadcastStrides(bShape, outShape)]);
    return call((c) => {
      const out = c.outF32(total);
      if (total === 0) return out;
      const pa = c.inF32(a);
      const pb = c.inF32(b);
      const threads = threadsFor(c, total);
      const ndim = shape.length;
      const dims = table(c, [...shape, ...st[0], ...st[1]]);
      const [odo, stride] = odometer(c, ndim, 2, threads);
      c.r.pool.run('ew_binary', [BINARY[op], pa, pb, out.byteOffset, ndim, dims, total, odo, stride], threads);
      return out;
    });
  },

  scalar(op, x, s, scalarFirst) {
    if (op === 'pow') return refElementwise.scalar(op, x, s, scalarFirst);
    const n = x.length;
    return call((c) => {
      const y = c.outF32(n);
      if (n === 0) return y;
      const px = c.inF32(x);
      // float32 arithmetic when s is a float32 value (then exact, as the reference's float64-then-round);
      // else float64 lanes, rounded once.
      const f64 = !isF32(s);
      const sp = c.scratch(4);
      new Float32Array(c.r.heap.memory.buffer, sp, 1)[0] = s;
      const mode = (f64 ? 2 : 0) + (scalarFirst ? 1 : 0);
      c.r.pool.run('ew_scalar', [BINARY[op], px, y.byteOffset, n, sp, s, mode], threadsFor(c, n));
      return y;
    });
  },
};

/** Sums of rows at least this long, in fewer rows than SPLIT_ROWS, are split into blocks across threads. */
const SPLIT_ROW = 65536;
const SPLIT_ROWS = 16;
const BLOCK = 16384;

const reduce: ReduceKernels = {
  sum(x, shape, axes) {
    if (axes.length === 0) {
      return call((c) => {
        const out = c.outF32(x.length);
        out.set(x);
        return out;
      });
    }
    const first = axes[0];
    const last = axes[axes.length - 1];
    if (last - first !== axes.length - 1) return refReduce.sum(x, shape, axes);
    const outer = numel(shape.slice(0, first));
    const n = numel(shape.slice(first, last + 1));
    const inner = numel(shape.slice(last + 1));
    return call((c) => {
      const out = c.outF32(outer * inner);
      if (outer * inner === 0) return out;
      if (n === 0) {
        out.fill(0);
        return out;
      }
      const px = c.inF32(x);
      if (inner > 1) {
        c.r.pool.run('ew_sum_cols', [px, out.byteOffset, outer, n, inner], threadsFor(c, x.length));
      } else if (n >= SPLIT_ROW && outer < SPLIT_ROWS) {
        // Blocks of fixed size (not per thread), so the result does not depend on the thread count.
        const nb = Math.ceil(n / BLOCK);
        const partial = c.scratch(outer * nb * 8);
        c.r.pool.run('ew_sum_blocks', [px, partial, outer, n, BLOCK], threadsFor(c, x.length));
        c.r.pool.run('ew_sum_partials', [partial, out.byteOffset, outer, nb], 1);
      } else {
        c.r.pool.run('ew_sum_rows', [px, out.byteOffset, outer, n], threadsFor(c, x.length));
      }
      return out;
    });
  },

  broadcastTo(x, shape, outShape) {
    return copyStrided(x, 0, outShape, broadcastStrides(shape, outShape));
  },

  max(x, outer, n, inner) {
    return call((c) => {
      const m = outer * inner;
      const values = c.outF32(m);
      const indices = c.r.heap.allocI32(m);
      if (m === 0) return { values, indices };
      if (n === 0) {
        values.fill(NaN);
        indices.fill(0);
        return { values, indices };
      }
      c.r.pool.run('ew_max', [c.inF32(x), values.byteOffset, indices.byteOffset, outer, n, inner], threadsFor(c, 2 * x.length));
      return { values, indices };
    });
  },
};

/**
 * out (contiguous, of `shape`) [i] = x[base + sum idx * st]: the gather behind broadcastTo, permute and
 * slice. A batched transpose (the output's last axis strided, the one before it contiguous in x) goes to
 * the tiled transpose kernel.
 */
function copyStrided(x: Float32Array, base: number, shape: readonly number[], st: readonly number[]): Float32Array {
  const total = numel(shape);
  const { shape: cs, strides: [ss, ds] } = collapse(shape, [st, strides(shape)]);
  return call((c) => {
    const out = c.outF32(total);
    if (total === 0) return out;
    const px = c.inF32(x) + base * 4;
    const threads = threadsFor(c, total);
    const ndim = cs.length;
    const P = cs[ndim - 2];
    const Q = cs[ndim - 1];
    if (ndim >= 2 && ss[ndim - 2] === 1 && ss[ndim - 1] !== 1 && P >= 4 && Q >= 4) {
      const nb = ndim - 2;
      const dims = table(c, [...cs.slice(0, nb), ...ss.slice(0, nb)]);
      c.r.pool.run('ew_transpose', [px, out.byteOffset, nb, dims, P, Q, ss[ndim - 1]], threads);
      return out;
    }
    const dims = table(c, [...cs, ...ss, ...ds]);
    const [odo, stride] = odometer(c, ndim, 2, threads);
    c.r.pool.run('ew_copy_nd', [px, out.byteOffset, ndim, dims, total, odo, stride], threads);
    return out;
  });
}

function offsetOf(shape: readonly number[], starts: readonly number[]): number {
  const s = strides(shape);
  let off = 0;
  for (let d = 0; d < shape.length; d++) off += starts[d] * s[d];
  return off;
}

/** Row-major joining: `outer` rows, each the pieces' runs in order (a null piece gives zeros). */
function joinRuns(outer: number, pieces: readonly { x: Float32Array | null; run: number }[]): Float32Array {
  const used = pieces.filter((p) => p.run > 0);
  const rowLen = used.reduce((acc, p) => acc + p.run, 0);
  const total = outer * rowLen;
  return call((c) => {
    const out = c.outF32(total);
    if (total === 0) return out;
    const ptrs = used.map((p) => (p.x === null ? 0 : c.inF32(p.x)));
    const tbl = c.scratch(used.length * 8);
    const t = new Uint32Array(c.r.heap.memory.buffer, tbl, used.length * 2);
    used.forEach((p, k) => {
      t[2 * k] = ptrs[k];
      t[2 * k + 1] = p.run;
    });
    c.r.pool.run('ew_concat', [out.byteOffset, outer, used.length, tbl, rowLen], threadsFor(c, total));
    return out;
  });
}

const layout: LayoutKernels = {
  permute(x, shape, perm) {
    const inStrides = strides(shape);
    return copyStrided(x, 0, perm.map((p) => shape[p]), perm.map((p) => inStrides[p]));
  },

  slice(x, shape, starts, outShape) {
    return copyStrided(x, offsetOf(shape, starts), outShape, strides(shape));
  },

  unslice(block, blockShape, starts, shape) {
    const differ = shape.map((_, d) => d).filter((d) => blockShape[d] !== shape[d]);
    if (differ.length === 0) return joinRuns(1, [{ x: block, run: numel(shape) }]);
    if (differ.length === 1) {
      // Cut along one axis a: each outer row is zeros, the block's run, zeros.
      const a = differ[0];
      const post = numel(shape.slice(a + 1));
      const outer = numel(shape.slice(0, a));
      const pre = starts[a] * post;
      const run = blockShape[a] * post;
      const rest = shape[a] * post - pre - run;
      return joinRuns(outer, [{ x: null, run: pre }, { x: block, run }, { x: null, run: rest }]);
    }
    // Several axes cut: zeros, then the block scattered in.
    const total = numel(shape);
    const n = numel(blockShape);
    const { shape: cs, strides: [ss, ds] } = collapse(blockShape, [strides(blockShape), strides(shape)]);
    return call((c) => {
      const out = c.outF32(total);
      out.fill(0);
      if (n === 0) return out;
      const pb = c.inF32(block);
      const threads = threadsFor(c, n);
      const ndim = cs.length;
      const dims = table(c, [...cs, ...ss, ...ds]);
      const [odo, stride] = odometer(c, ndim, 2, threads);
      c.r.pool.run('ew_copy_nd', [pb, out.byteOffset + offsetOf(shape, starts) * 4, ndim, dims, n, odo, stride], threads);
      return out;
    });
  },

  concat(xs, shapes, axis) {
    const outer = numel(shapes[0].slice(0, axis));
    return joinRuns(outer, xs.map((x, j) => ({ x, run: numel(shapes[j].slice(axis)) })));
  },

  where(cond, condShape, a, aShape, b, bShape, outShape) {
    const total = numel(outShape);
    const { shape, strides: st } = collapse(outShape, [
      broadcastStrides(condShape, outShape),
      broadcastStrides(aShape, outShape),
      broadcastStrides(bShape, outShape),
    ]);
    return call((c) => {
      const out = c.outF32(total);
      if (total === 0) return out;
      const pc = c.inF32(cond);
      const pa = c.inF32(a);
      const pb = c.inF32(b);
      const threads = threadsFor(c, total);
      const ndim = shape.length;
      const dims = table(c, [...shape, ...st[0], ...st[1], ...st[2]]);
      const [odo, stride] = odometer(c, ndim, 3, threads);
      c.r.pool.run('ew_where', [pc, pa, pb, out.byteOffset, ndim, dims, total, odo, stride], threads);
      return out;
    });
  },
};

export const elementwiseKernels: Partial<ElementwiseKernels & ReduceKernels & LayoutKernels> = {
  ...elementwise,
  ...reduce,
  ...layout,
};
