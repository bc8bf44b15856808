/** Matrix multiplication kernels. */

/**
 * A batch of matrix products C[b] = op(A[b]) op(B[b]) with op = transpose or not.
 * A[b] starts at `aOffsets[b]` in `a` and is stored [m, k] (or [k, m] when `transA`);
 * B[b] starts at `bOffsets[b]` and is stored [k, n] (or [n, k] when `transB`).
 * Offsets let broadcast batches share one matrix without copying it.
 */
export interface MatmulParams {
  batch: number;
  m: number;
  k: number;
  n: number;
  transA: boolean;
  transB: boolean;
  aOffsets: Int32Array;
  bOffsets: Int32Array;
}

export interface MatmulKernels {
  /** Returns C: [batch, m, n], row-major. */
  matmul(a: Float32Array, b: Float32Array, p: MatmulParams): Float32Array;
}
