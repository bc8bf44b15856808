/** Reference matmul: each output element accumulated in float64, then rounded once. */
import type { MatmulKernels } from '../kernels/matmul.js';

export const matmul: MatmulKernels = {
  matmul(a, b, p) {
    const { batch, m, k, n, transA, transB, aOffsets, bOffsets } = p;
    const out = new Float32Array(batch * m * n);
    const acc = new Float64Array(n);
    for (let bi = 0; bi < batch; bi++) {
      const ao = aOffsets[bi];
      const bo = bOffsets[bi];
      for (let i = 0; i < m; i++) {
        acc.fill(0);
        for (let q = 0; q < k; q++) {
          const aiq = transA ? a[ao + q * m + i] : a[ao + i * k + q];
          if (transB) for (let j = 0; j < n; j++) acc[j] += aiq * b[bo + j * k + q];
          else {
            const row = bo + q * n;
            for (let j = 0; j < n; j++) acc[j] += aiq * b[row + j];
          }
        }
        out.set(acc, (bi * m + i) * n);
      }
    }
    return out;
  },
};
