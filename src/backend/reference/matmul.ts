/**
 * Reference matmul: each output element accumulated in float64, then rounded once. Loop order follows
 * the memory layout so that the inner loop reads contiguous values: a dot product of two rows when B is
 * transposed (x @ W^T, every Linear), a row update (axpy) otherwise.
 */
import type { MatmulKernels } from '../kernels/matmul.js';

export const matmul: MatmulKernels = {
  matmul(a, b, p) {
    const { batch, m, k, n, transA, transB, aOffsets, bOffsets } = p;
    const out = new Float32Array(batch * m * n);
    const acc = new Float64Array(n);
    const aRow = new Float64Array(k);
    for (let bi = 0; bi < batch; bi++) {
      const ao = aOffsets[bi];
      const bo = bOffsets[bi];
      for (let i = 0; i < m; i++) {
        // Row i of op(A), gathered once (strided when A is transposed).
        for (let q = 0; q < k; q++) aRow[q] = transA ? a[ao + q * m + i] : a[ao + i * k + q];
        const o = (bi * m + i) * n;
        if (transB) {
          for (let j = 0; j < n; j++) {
            const row = bo + j * k;
            let s = 0;
            for (let q = 0; q < k; q++) s += aRow[q] * b[row + q];
            out[o + j] = s;
          }
        } else {
          acc.fill(0);
          for (let q = 0; q < k; q++) {
            const aiq = aRow[q];
            const row = bo + q * n;
            for (let j = 0; j < n; j++) acc[j] += aiq * b[row + j];
          }
          out.set(acc, o);
        }
      }
    }
    return out;
  },
};
