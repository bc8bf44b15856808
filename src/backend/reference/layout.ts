/**
 * Reference layout kernels: pure data movement, so results are exact (no rounding to worry about).
 * Every strided kernel is written as "build the list of source offsets, then copy", in the style of
 * `broadcastIndexer`, so that each one is a one-line loop over an index map that is easy to check.
 */
import type { LayoutKernels } from '../kernels/layout.js';
import { broadcastIndexer, numel, stridedOffsets, strides } from '../../tensor/shape.js';

/** Offset in a row-major array of `shape` of the element at index `starts`. */
function offsetOf(shape: readonly number[], starts: readonly number[]): number {
  const s = strides(shape);
  let off = 0;
  for (let d = 0; d < shape.length; d++) off += starts[d] * s[d];
  return off;
}

export const layout: LayoutKernels = {
  permute(x, shape, perm) {
    const inStrides = strides(shape);
    // Walking the output in order, output axis i moves through x by the stride of x's axis perm[i].
    const map = stridedOffsets(
      perm.map((p) => shape[p]),
      perm.map((p) => inStrides[p]),
      0,
    );
    const out = new Float32Array(map.length);
    for (let i = 0; i < out.length; i++) out[i] = x[map[i]];
    return out;
  },

  slice(x, shape, starts, outShape) {
    const map = stridedOffsets(outShape, strides(shape), offsetOf(shape, starts));
    const out = new Float32Array(map.length);
    for (let i = 0; i < out.length; i++) out[i] = x[map[i]];
    return out;
  },

  unslice(block, blockShape, starts, shape) {
    const map = stridedOffsets(blockShape, strides(shape), offsetOf(shape, starts));
    const out = new Float32Array(numel(shape));
    for (let i = 0; i < map.length; i++) out[map[i]] = block[i];
    return out;
  },

  concat(xs, shapes, axis) {
    // Row-major: for each index of the axes before `axis`, each input contributes one contiguous run
    // (its slab from `axis` on), and the output is those runs one after another.
    const outer = numel(shapes[0].slice(0, axis));
    const runs = shapes.map((s) => numel(s.slice(axis)));
    const out = new Float32Array(outer * runs.reduce((a, b) => a + b, 0));
    let o = 0;
    for (let i = 0; i < outer; i++) {
      for (let j = 0; j < xs.length; j++) {
        out.set(xs[j].subarray(i * runs[j], (i + 1) * runs[j]), o);
        o += runs[j];
      }
    }
    return out;
  },

  where(cond, condShape, a, aShape, b, bShape, outShape) {
    const nc = trailingPeriod(condShape, outShape);
    const na = trailingPeriod(aShape, outShape);
    const nb = trailingPeriod(bShape, outShape);
    if (nc > 0 && na > 0 && nb > 0) return whereTrailing(cond, nc, a, na, b, nb, numel(outShape));
    return whereGeneral(cond, condShape, a, aShape, b, bShape, outShape);
  },
};

/**
 * The general `where`: an index map per operand (`broadcastIndexer`), for any broadcast. The fast path
 * is tested against it.
 */
export function whereGeneral(
  cond: Float32Array, condShape: readonly number[], a: Float32Array, aShape: readonly number[],
  b: Float32Array, bShape: readonly number[], outShape: readonly number[],
): Float32Array {
  const ic = broadcastIndexer(condShape, outShape);
  const ia = broadcastIndexer(aShape, outShape);
  const ib = broadcastIndexer(bShape, outShape);
  const out = new Float32Array(ic.length);
  // `!== 0` rather than truthiness, so NaN counts as true (nonzero), as converting NaN to bool does in PyTorch.
  for (let i = 0; i < out.length; i++) out[i] = cond[ic[i]] !== 0 ? a[ia[i]] : b[ib[i]];
  return out;
}

/**
 * When an operand of `shape` broadcast to `outShape` is read as its whole data repeated (element i of the
 * output reads element i % n): its shape, without leading 1s, is the tail of `outShape`. Then n is its
 * element count: the same shape (n = all), a scalar or any all-1 shape (n = 1), or a trailing block such
 * as a mask [t, t] under scores [b, h, t, t]. Returns 0 when it is not so (or n is 0).
 */
function trailingPeriod(shape: readonly number[], outShape: readonly number[]): number {
  let lead = 0;
  while (lead < shape.length && shape[lead] === 1) lead++;
  const tail = shape.length - lead;
  if (tail > outShape.length) return 0;
  for (let i = 1; i <= tail; i++) if (shape[shape.length - i] !== outShape[outShape.length - i]) return 0;
  return numel(shape);
}

/** `where` when each operand repeats with its own period (see trailingPeriod): counters instead of index maps. */
function whereTrailing(cond: Float32Array, nc: number, a: Float32Array, na: number, b: Float32Array, nb: number, total: number): Float32Array {
  const out = new Float32Array(total);
  let ic = 0;
  let ia = 0;
  let ib = 0;
  for (let i = 0; i < total; i++) {
    out[i] = cond[ic] !== 0 ? a[ia] : b[ib];
    if (++ic === nc) ic = 0;
    if (++ia === na) ia = 0;
    if (++ib === nb) ib = 0;
  }
  return out;
}
