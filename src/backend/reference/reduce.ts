/** Reference reductions, accumulated in float64. */
import type { ReduceKernels } from '../kernels/reduce.js';
import { broadcastIndexer } from '../../tensor/shape.js';

export const reduce: ReduceKernels = {
  sum(x, shape, axes) {
    const outShape = shape.map((d, i) => (axes.includes(i) ? 1 : d));
    const map = broadcastIndexer(outShape, shape); // each input element -> its output slot
    let total = 1;
    for (const d of outShape) total *= d;
    const acc = new Float64Array(total);
    for (let i = 0; i < x.length; i++) acc[map[i]] += x[i];
    return Float32Array.from(acc);
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
