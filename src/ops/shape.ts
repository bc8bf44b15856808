/** Shape ops: reshape, transpose/permute, slice, concat, split, stack, where and masked fill. (Stubs: filled in by the shape-ops work.) */
import { Tensor } from '../tensor/tensor.js';

const todo = (name: string): never => {
  throw new Error(`${name}: not written yet`);
};

/** Same data, new shape (one size may be -1, inferred). */
export function reshape(x: Tensor, shape: readonly number[]): Tensor { return todo('reshape'); }
/** Swaps two axes (negative axes count from the end). */
export function transpose(x: Tensor, axis0: number, axis1: number): Tensor { return todo('transpose'); }
/** Reorders axes: out.shape[i] = x.shape[perm[i]]. */
export function permute(x: Tensor, perm: readonly number[]): Tensor { return todo('permute'); }
/** Inserts an axis of size 1 at `axis`. */
export function unsqueeze(x: Tensor, axis: number): Tensor { return todo('unsqueeze'); }
/** Removes axes of size 1 (the given one, or all). */
export function squeeze(x: Tensor, axis?: number): Tensor { return todo('squeeze'); }
/** Elements start..end-1 along `axis` (negative indices count from the end; end defaults to the size), as `x.narrow` / `x[..., start:end]`. */
export function slice(x: Tensor, axis: number, start: number, end?: number): Tensor { return todo('slice'); }
/** Joins tensors along an existing axis, as `torch.cat`. */
export function concat(xs: readonly Tensor[], axis = 0): Tensor { return todo('concat'); }
/** Splits along `axis` into pieces of `sizes` (or into equal pieces of size `sizes` when a number), as `torch.split`. */
export function split(x: Tensor, sizes: number | readonly number[], axis = 0): Tensor[] { return todo('split'); }
/** Joins tensors along a new axis, as `torch.stack`. */
export function stack(xs: readonly Tensor[], axis = 0): Tensor { return todo('stack'); }
/** Broadcasts to `shape` (as `expand`, but a real copy); gradient sums back. */
export function broadcastTo(x: Tensor, shape: readonly number[]): Tensor { return todo('broadcastTo'); }
/** cond ? a : b elementwise with broadcasting (cond: a bool tensor, or nonzero = true). */
export function where(cond: Tensor, a: Tensor | number, b: Tensor | number): Tensor { return todo('where'); }
/** x with `value` wherever mask is true (broadcast), as `masked_fill`. */
export function maskedFill(x: Tensor, mask: Tensor, value: number): Tensor { return todo('maskedFill'); }
