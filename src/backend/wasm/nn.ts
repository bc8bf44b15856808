/**
 * The wasm backend's neural-network kernels (see wasm/nn.ts) and its one-pass AdamW update.
 *
 * Semantics are the reference's (src/backend/reference/nn.ts, optim.ts); precision: float32 elementwise,
 * float64 sums, a float32 polynomial exp (see wasm/nn.ts). Bitwise equal to the reference: the norms'
 * dweight/dbias, scatterAdd and gather. AdamW is float32 (a few ulps from the reference per step).
 * Results never depend on the thread count.
 */
import type { NNKernels, NormGrads, NormResult } from '../kernels/nn.js';
import type { AdamWStep, OptimKernels } from '../kernels/optim.js';
import { call, type KernelCall } from './runtime.js';

/**
 * Single-thread time per element of each kernel, in ns (measured: kernel alone, 1 thread, on a loaded
 * 2-core EPYC; a quiet core is faster, which only makes the split below more conservative).
 */
const COST = {
  exp: 2.5, // softmax, logSoftmax, their backward with exp, cross-entropy forward and backward
  softmaxBackward: 0.8,
  norm: 1.3,
  normBackward: 2.2,
  gather: 0.15,
  scatter: 0.6,
  adamw: 1.2,
};

/**
 * Estimated single-thread time (ns) from which a kernel runs on every thread rather than on the caller
 * alone: a hand-off costs about 5 µs, so below ~20 µs of work a split gains little or loses. Tests lower it
 * to exercise the split on small inputs.
 */
let parallelNs = 20_000;

/** Sets the estimated work (ns) from which nn kernels use all threads (0: always, Infinity: never); returns the old value. */
export function setNNParallelMin(ns: number): number {
  const old = parallelNs;
  parallelNs = ns;
  return old;
}

function threadsFor(c: KernelCall, ns: number): number {
  return ns >= parallelNs && ns > 0 ? c.r.pool.requested : 1;
}

/** Pointer of an optional input (0 = absent, as the kernels read it). */
function optF32(c: KernelCall, x: Float32Array | null): number {
  return x === null ? 0 : c.inF32(x);
}

/** Runs an [outer, n, inner] kernel with one input (x) and one output. */
function rows1(name: string, x: Float32Array, outer: number, n: number, inner: number, cost: number): Float32Array {
  return call((c) => {
    const y = c.outF32(outer * n * inner);
    c.r.pool.run(name, [c.inF32(x), y.byteOffset, outer, n, inner], threadsFor(c, x.length * cost));
    return y;
  });
}

/** Runs an [outer, n, inner] backward kernel (y, dy) -> dx. */
function rows2(name: string, y: Float32Array, dy: Float32Array, outer: number, n: number, inner: number, cost: number): Float32Array {
  return call((c) => {
    const dx = c.outF32(outer * n * inner);
    c.r.pool.run(name, [c.inF32(y), c.inF32(dy), dx.byteOffset, outer, n, inner], threadsFor(c, y.length * cost));
    return dx;
  });
}

const nn: Partial<NNKernels> = {
  softmax: (x, outer, n, inner) => rows1('nn_softmax', x, outer, n, inner, COST.exp),
  softmaxBackward: (y, dy, outer, n, inner) => rows2('nn_softmax_backward', y, dy, outer, n, inner, COST.softmaxBackward),
  logSoftmax: (x, outer, n, inner) => rows1('nn_log_softmax', x, outer, n, inner, COST.exp),
  logSoftmaxBackward: (y, dy, outer, n, inner) => rows2('nn_log_softmax_backward', y, dy, outer, n, inner, COST.exp),

  layerNorm(x, weight, bias, rows, cols, eps): NormResult {
    return call((c) => {
      const y = c.outF32(rows * cols);
      const mean = c.outF32(rows);
      const rstd = c.outF32(rows);
      c.r.pool.run('nn_layer_norm', [c.inF32(x), optF32(c, weight), optF32(c, bias), y.byteOffset, mean.byteOffset, rstd.byteOffset, rows, cols, eps], threadsFor(c, rows * cols * COST.norm));
      return { y, mean, rstd };
    });
  },

  layerNormBackward(x, weight, hasBias, mean, rstd, dy, rows, cols): NormGrads {
    return call((c) => {
      const dx = c.outF32(rows * cols);
      const dw = weight === null ? null : c.outF32(cols);
      const db = hasBias ? c.outF32(cols) : null;
      const acc = dw === null && db === null ? 0 : c.scratch(16 * cols);
      c.r.pool.run(
        'nn_layer_norm_backward',
        [c.inF32(x), optF32(c, weight), c.inF32(mean), c.inF32(rstd), c.inF32(dy), dx.byteOffset, dw?.byteOffset ?? 0, db?.byteOffset ?? 0, acc, rows, cols],
        threadsFor(c, rows * cols * COST.normBackward),
      );
      return { dx, dweight: dw, dbias: db };
    });
  },

  rmsNorm(x, weight, rows, cols, eps): NormResult {
    return call((c) => {
      const y = c.outF32(rows * cols);
      const rstd = c.outF32(rows);
      c.r.pool.run('nn_rms_norm', [c.inF32(x), optF32(c, weight), y.byteOffset, rstd.byteOffset, rows, cols, eps], threadsFor(c, rows * cols * COST.norm));
      return { y, mean: null, rstd };
    });
  },

  rmsNormBackward(x, weight, rstd, dy, rows, cols): NormGrads {
    return call((c) => {
      const dx = c.outF32(rows * cols);
      const dw = weight === null ? null : c.outF32(cols);
      const acc = dw === null ? 0 : c.scratch(16 * cols);
      c.r.pool.run(
        'nn_rms_norm_backward',
        [c.inF32(x), optF32(c, weight), c.inF32(rstd), c.inF32(dy), dx.byteOffset, dw?.byteOffset ?? 0, acc, rows, cols],
        threadsFor(c, rows * cols * COST.normBackward),
      );
      return { dx, dweight: dw, dbias: null };
    });
  },

  gather(table, cols, ids) {
    return call((c) => {
      const out = c.outF32(ids.length * cols);
      c.r.pool.run('nn_gather', [c.inF32(table), cols, c.inI32(ids), ids.length, out.byteOffset], threadsFor(c, ids.length * cols * COST.gather));
      return out;
    });
  },

  scatterAdd(dy, rows, cols, ids) {
    return call((c) => {
      const n = ids.length;
      const out = c.outF32(rows * cols);
      const idp = c.inI32(ids);
      const starts = c.scratch(4 * (rows + 1));
      const cursor = c.scratch(4 * rows);
      const order = c.scratch(4 * n);
      // The sort is O(ids + rows) on one thread; the sums and the zeroing are split by output rows.
      c.r.pool.run('nn_scatter_sort', [idp, n, rows, starts, cursor, order], 1);
      const threads = threadsFor(c, (rows + n) * cols * COST.scatter);
      const stride = Math.ceil((8 * cols) / 64) * 64;
      const acc = c.scratch(stride * threads);
      c.r.pool.run('nn_scatter_add', [c.inF32(dy), out.byteOffset, rows, cols, starts, order, acc, stride], threads);
      return out;
    });
  },

  crossEntropy(logits, targets, rows, classes, labelSmoothing) {
    return call((c) => {
      const loss = c.outF32(rows);
      c.r.pool.run('nn_cross_entropy', [c.inF32(logits), c.inI32(targets), loss.byteOffset, rows, classes, labelSmoothing], threadsFor(c, rows * classes * COST.exp));
      return loss;
    });
  },

  crossEntropyBackward(logits, targets, dloss, rows, classes, labelSmoothing) {
    return call((c) => {
      const dx = c.outF32(rows * classes);
      c.r.pool.run(
        'nn_cross_entropy_backward',
        [c.inF32(logits), c.inI32(targets), c.inF32(dloss), dx.byteOffset, rows, classes, labelSmoothing],
        threadsFor(c, rows * classes * COST.exp),
      );
      return dx;
    });
  },
};

/** Pointer of an array the kernel updates in place: copied in (and back out by `flush`) if not in wasm memory. */
function inOut(c: KernelCall, x: Float32Array, flush: (() => void)[]): number {
  if (c.r.heap.owns(x)) return x.byteOffset;
  const p = c.inF32(x);
  flush.push(() => x.set(c.r.heap.viewF32(p, x.length)));
  return p;
}

const optim: OptimKernels = {
  // float32 on f32x4 lanes (wasm/nn.ts, optim_adamw): within a few ulps of the reference per step (see
  // test/wasm-nn.test.ts for the bound), as PyTorch's float32 AdamW is.
  adamwUpdate(p: Float32Array, grad: Float32Array, m: Float32Array, v: Float32Array, vmax: Float32Array | null, h: AdamWStep): void {
    const { lr, weightDecay: wd, beta1, beta2, eps, step, maximize } = h;
    // The scalars in float64 as the reference computes them, rounded to float32 by the call.
    const decay = 1 - lr * wd;
    const stepSize = lr / (1 - beta1 ** step);
    const bc2Sqrt = Math.sqrt(1 - beta2 ** step);
    call((c) => {
      const flush: (() => void)[] = [];
      const args = [
        inOut(c, p, flush), c.inF32(grad), inOut(c, m, flush), inOut(c, v, flush), vmax === null ? 0 : inOut(c, vmax, flush),
        p.length, beta1, beta2, 1 - beta1, 1 - beta2, maximize ? -1 : 1, decay, stepSize, 1 / bc2Sqrt, eps,
      ];
      c.r.pool.run('optim_adamw', args, threadsFor(c, p.length * COST.adamw));
      for (const f of flush) f();
    });
  },
};

export const nnKernels: Partial<NNKernels & OptimKernels> = { ...nn, ...optim };
