/**
 * Reference layout kernels: pure data movement, so results are exact (no rounding to worry about).
 * Every strided kernel is written as "build the list of source offsets, then copy", in the style of
 * `broadcastIndexer`, so that each one is a one-line loop over an index map that is easy to check.
 */
import type { LayoutKernels } from '../kernels/layout.js';
import { broadcastIndexer, numel, strides } from '../../tensor/shape.js';

/**
 * For each flat index of `shape` (row-major), the offset base + sum(idx[d] * step[d]) in some other
 * array: an odometer over `shape` that adds a step per axis. Permute and slice are this with different
 * steps and bases.
 */
function stridedOffsets(shape: readonly number[], step: readonly number[], base: number): Int32Array {
  const r = shape.length;
  const map = new Int32Array(numel(shape));
  const idx = new Array<number>(r).fill(0);
  let off = base;
  for (let i = 0; i < map.length; i++) {
    map[i] = off;
    for (let d = r - 1; d >= 0; d--) {
      idx[d]++;
      off += step[d];
      if (idx[d] < shape[d]) break;
      off -= step[d] * idx[d];
      idx[d] = 0;
    }
  }
  return map;
}

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
    const ic = broadcastIndexer(condShape, outShape);
    const ia = broadcastIndexer(aShape, outShape);
    const ib = broadcastIndexer(bShape, outShape);
    const out = new Float32Array(ic.length);
    // `!== 0` rather than truthiness, so NaN counts as true (nonzero), as converting NaN to bool does in PyTorch.
    for (let i = 0; i < out.length; i++) out[i] = cond[ic[i]] !== 0 ? a[ia[i]] : b[ib[i]];
    return out;
  },
};
