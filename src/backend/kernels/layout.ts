/** Kernels that move data without arithmetic: permute, slice, concat, select by a condition. */

export interface LayoutKernels {
  /** out[i_perm[0], ..., i_perm[r-1]] = x[i_0, ..., i_{r-1}]: out's shape is shape permuted by `perm`. */
  permute(x: Float32Array, shape: readonly number[], perm: readonly number[]): Float32Array;
  /** The block x[starts[0]:starts[0]+outShape[0], ...]. */
  slice(x: Float32Array, shape: readonly number[], starts: readonly number[], outShape: readonly number[]): Float32Array;
  /** The inverse of slice: zeros of `shape` with `block` (of `blockShape`) written at `starts`. */
  unslice(block: Float32Array, blockShape: readonly number[], starts: readonly number[], shape: readonly number[]): Float32Array;
  /** Concatenation along `axis`; every shape equals the others except along `axis`. */
  concat(xs: readonly Float32Array[], shapes: readonly (readonly number[])[], axis: number): Float32Array;
  /** out = cond ? a : b with broadcasting to `outShape` (cond nonzero = true). */
  where(cond: Float32Array, condShape: readonly number[], a: Float32Array, aShape: readonly number[], b: Float32Array, bShape: readonly number[], outShape: readonly number[]): Float32Array;
}
