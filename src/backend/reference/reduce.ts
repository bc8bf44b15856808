/** Reference reductions, accumulated in float64. */
import type { ReduceKernels } from '../kernels/reduce.js';
import { broadcastIndexer, numel } from '../../tensor/shape.js';

/**
 * The general sum over any set of axes: each input element is added to its output slot through an index
 * map. Each slot adds its elements in increasing flat index, which the fast path keeps, so the two give
 * bit-identical results (the fast path is tested against this).
 */
export function sumGeneral(x: Float32Array, shape: readonly number[], axes: readonly number[]): Float32Array {
  const outShape = shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const map = broadcastIndexer(outShape, shape); // each input element -> its output slot
  const acc = new Float64Array(numel(outShape));
  for (let i = 0; i < x.length; i++) acc[map[i]] += x[i];
  return Float32Array.from(acc);
}

/**
 * Sum over the contiguous run of axes first..last, viewing x as [outer, n, inner] (n the product of the
 * run): out[o, j] = sum over i of x[o, i, j], i in increasing order, as sumGeneral adds them.
 */
function sumRun(x: Float32Array, shape: readonly number[], first: number, last: number): Float32Array {
  const outer = numel(shape.slice(0, first));
  const n = numel(shape.slice(first, last + 1));
  const inner = numel(shape.slice(last + 1));
  const acc = new Float64Array(outer * inner);
  if (inner === 1) {
    // Rows of n contiguous values (the last axes, or all of them): one running sum per row.
    for (let o = 0; o < outer; o++) {
      let s = 0;
      for (let i = o * n, end = i + n; i < end; i++) s += x[i];
      acc[o] = s;
    }
    return Float32Array.from(acc);
  }
  for (let o = 0; o < outer; o++) {
    const row = o * inner;
    for (let i = 0; i < n; i++) {
      const src = (o * n + i) * inner;
      for (let j = 0; j < inner; j++) acc[row + j] += x[src + j];
    }
  }
  return Float32Array.from(acc);
}

export const reduce: ReduceKernels = {
  sum(x, shape, axes) {
    // Axes are sorted and distinct, so they are one contiguous run when the last is first + count - 1.
    if (axes.length > 0 && axes[axes.length - 1] - axes[0] === axes.length - 1) return sumRun(x, shape, axes[0], axes[axes.length - 1]);
    return sumGeneral(x, shape, axes);
  },

  broadcastTo(x, shape, outShape) {
    const map = broadcastIndexer(shape, outShape);
    const out = new Float32Array(map.length);
    for (let i = 0; i < out.length; i++) out[i] = x[map[i]];
    return out;
  },

  max(x, outer, n, inner) {
    const values = new Float32Array(outer * inner);
    const indices = new Int32Array(outer * inner);
    for (let o = 0; o < outer; o++) {
      for (let j = 0; j < inner; j++) {
        let best = -Infinity;
        let bestIdx = 0;
        for (let i = 0; i < n; i++) {
          const v = x[(o * n + i) * inner + j];
          if (v > best || (v !== v && best === best)) {
            best = v;
            bestIdx = i;
          }
        }
        values[o * inner + j] = n === 0 ? NaN : best;
        indices[o * inner + j] = bestIdx;
      }
    }
    return { values, indices };
  },
};
