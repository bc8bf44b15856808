/** Reductions along axes, and their inverse (broadcasting back). */

export interface ReduceKernels {
  /** Sums over `axes` (sorted, distinct); the result has the shape of x with those axes set to 1. */
  sum(x: Float32Array, shape: readonly number[], axes: readonly number[]): Float32Array;
  /** Broadcasts x of `shape` (same rank as `outShape`, sizes equal or 1) to `outShape`. */
  broadcastTo(x: Float32Array, shape: readonly number[], outShape: readonly number[]): Float32Array;
  /**
   * Max over one axis, laid out as [outer, n, inner]; values and the index (0..n-1) of the first max,
   * each [outer, inner]. NaN wins, as in PyTorch.
   */
  max(x: Float32Array, outer: number, n: number, inner: number): { values: Float32Array; indices: Int32Array };
}
