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

/**
 * Batches that share one B and whose A blocks follow each other (x @ W for x [..., m, k]) are one tall
 * product [batch·m, k] @ [k, n]: fewer edge panels, and more rows to split between threads. Returns the
 * merged batch, m and aOffsets (unchanged when the batches cannot merge).
 */
export function mergeSharedB(p: MatmulParams): { batch: number; m: number; aOffsets: Int32Array } {
  const { batch, m, k, transA, aOffsets, bOffsets } = p;
  if (batch <= 1 || transA) return { batch, m, aOffsets };
  const a0 = aOffsets[0], b0 = bOffsets[0], mk = m * k;
  for (let bi = 1; bi < batch; bi++) if (bOffsets[bi] !== b0 || aOffsets[bi] !== a0 + bi * mk) return { batch, m, aOffsets };
  return { batch: 1, m: m * batch, aOffsets: aOffsets.subarray(0, 1) };
}
