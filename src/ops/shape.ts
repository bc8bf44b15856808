/**
 * Shape ops: reshape, transpose/permute, slice, concat, split, stack, broadcast, where and masked fill.
 *
 * They move data and do no arithmetic, so each backward is the inverse movement: permute by the inverse
 * permutation, write a slice back into zeros, cut a concatenation apart, sum out a broadcast. Bool masks
 * stay bool through them (a causal mask can be sliced and reshaped and is still a mask); bool tensors
 * never require grad, so nothing is lost by not recording a graph for them.
 */
import { backend } from '../backend/backend.js';
import { Tensor, type BackwardFn } from '../tensor/tensor.js';
import { broadcastShapes, checkShape, fmt, normAxis, ShapeError, type Shape } from '../tensor/shape.js';
import { unbroadcast } from './broadcast.js';
import {
  assertBoolMask, assertFiniteNumber, assertNumber, assertNumberArray, assertTensor, assertTensorArray, assertTensorOrNumber, axisOrScalar, describe,
} from './validate.js';

/** The output of a shape op: a graph node for float tensors, a plain bool tensor when `bool`. */
function result(op: string, data: Float32Array, shape: Shape, parents: readonly Tensor[], backward: BackwardFn, bool: boolean): Tensor {
  return bool ? new Tensor(data, shape, false, null, 'bool') : Tensor.fromOp(op, data, shape, parents, backward);
}

/** The same data under a new shape (same element count). Still a node, so gradients flow through it. */
function view(op: string, x: Tensor, shape: Shape): Tensor {
  return result(op, x.data, shape, [x], (g) => [g], x.dtype === 'bool');
}

/** Whether `from` broadcasts to exactly `to` (aligned right; each size equal or 1). */
function broadcastsTo(from: Shape, to: Shape): boolean {
  const off = to.length - from.length;
  return off >= 0 && from.every((d, i) => d === 1 || d === to[i + off]);
}

/**
 * Same data, new shape, as `torch.reshape`: x [...] -> [...shape], numel unchanged. One size may be -1,
 * inferred from the others. Shares x's (immutable) data; no copy.
 */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  assertTensor('reshape', 'x', x);
  assertNumberArray('reshape', 'shape', shape);
  const n = x.size;
  let inferAt = -1;
  let known = 1;
  shape.forEach((d, i) => {
    if (d === -1) {
      if (inferAt >= 0) throw new ShapeError(`reshape: only one size may be -1, got ${fmt(shape)}`);
      inferAt = i;
    } else if (!Number.isInteger(d) || d < 0) {
      throw new ShapeError(`reshape: invalid size ${d} in ${fmt(shape)}: sizes must be non-negative integers (or one -1)`);
    } else known *= d;
  });
  const out = [...shape];
  if (inferAt >= 0) {
    // With a zero among the known sizes any value fits the -1, so it cannot be inferred (as PyTorch).
    if (known === 0 || n % known !== 0) {
      throw new ShapeError(`reshape: cannot reshape ${fmt(x.shape)} (${n} elements) into ${fmt(shape)}: no size for -1 makes ${n} elements`);
    }
    out[inferAt] = n / known;
  } else if (known !== n) {
    throw new ShapeError(`reshape: cannot reshape ${fmt(x.shape)} (${n} elements) into ${fmt(shape)} (${known} elements)`);
  }
  return view('reshape', x, out);
}

/**
 * Reorders axes, as `torch.permute`: x [d_0, ..., d_{r-1}] -> [d_perm[0], ..., d_perm[r-1]].
 * Entries may be negative (counted from the end); perm must name each axis exactly once.
 */
export function permute(x: Tensor, perm: readonly number[]): Tensor {
  assertTensor('permute', 'x', x);
  assertNumberArray('permute', 'perm', perm);
  const r = x.ndim;
  const bad = (): never => {
    throw new ShapeError(`permute: ${fmt(perm)} is not a permutation of the ${r} axes of ${fmt(x.shape)}`);
  };
  if (perm.length !== r) bad();
  const p = perm.map((a) => (Number.isInteger(a) && a >= -r && a < r ? (a < 0 ? a + r : a) : bad()));
  if (new Set(p).size !== r) bad();
  const inverse = new Array<number>(r);
  p.forEach((a, i) => (inverse[a] = i));
  const k = backend();
  const outShape = p.map((a) => x.shape[a]);
  return result('permute', k.permute(x.data, x.shape, p), outShape, [x], (g) => [k.permute(g, outShape, inverse)], x.dtype === 'bool');
}

/**
 * Swaps two axes (negative axes count from the end): x [..., a, ..., b, ...] -> [..., b, ..., a, ...].
 * On a 0-d tensor axes -1 and 0 are accepted and x is returned unchanged, as in PyTorch.
 */
export function transpose(x: Tensor, axis0: number, axis1: number): Tensor {
  assertTensor('transpose', 'x', x);
  const a = axisOrScalar('transpose', axis0, x.ndim);
  const b = axisOrScalar('transpose', axis1, x.ndim);
  if (a === null || b === null) return view('transpose', x, x.shape);
  const perm = x.shape.map((_, i) => (i === a ? b : i === b ? a : i));
  return permute(x, perm);
}

/** Inserts an axis of size 1 at `axis` (in -(r+1)..r, as torch): x [2,3], axis 1 -> [2,1,3]; axis -1 -> [2,3,1]. */
export function unsqueeze(x: Tensor, axis: number): Tensor {
  assertTensor('unsqueeze', 'x', x);
  assertFiniteNumber('unsqueeze', 'axis', axis);
  const a = normAxis('unsqueeze', axis, x.ndim + 1);
  return view('unsqueeze', x, [...x.shape.slice(0, a), 1, ...x.shape.slice(a)]);
}

/**
 * Removes axes of size 1: all of them ([1,3,1] -> [3]), or only `axis`. As in PyTorch, squeezing an
 * axis whose size is not 1 returns the shape unchanged (not an error), and a 0-d tensor accepts axis -1
 * and 0 (and stays 0-d).
 */
export function squeeze(x: Tensor, axis?: number): Tensor {
  assertTensor('squeeze', 'x', x);
  if (axis === undefined) return view('squeeze', x, x.shape.filter((d) => d !== 1));
  const a = axisOrScalar('squeeze', axis, x.ndim);
  if (a === null) return view('squeeze', x, x.shape);
  return view('squeeze', x, x.shape[a] === 1 ? x.shape.filter((_, i) => i !== a) : x.shape);
}

/** Axis of x to cut along; normAxis lets axis 0 through on a scalar (as torch's dim checks), but a scalar has nothing to cut. */
function cutAxis(op: string, x: Tensor, axis: number): number {
  assertTensor(op, 'x', x);
  assertFiniteNumber(op, 'axis', axis);
  if (x.ndim === 0) throw new ShapeError(`${op}: a scalar (shape []) has no axis to cut`);
  return normAxis(op, axis, x.ndim);
}

/** The block [start, start + size) along axis `a` (already normalized and in range). */
function narrow(op: string, x: Tensor, a: number, start: number, size: number): Tensor {
  const k = backend();
  const starts = x.shape.map((_, i) => (i === a ? start : 0));
  const outShape = x.shape.map((d, i) => (i === a ? size : d));
  return result(op, k.slice(x.data, x.shape, starts, outShape), outShape, [x], (g) => [k.unslice(g, outShape, starts, x.shape)], x.dtype === 'bool');
}

/**
 * Elements start..end-1 along `axis`, as `x[..., start:end]` in Python: x [..., n, ...] -> [..., m, ...].
 * Negative indices count from the end; both are then clamped to 0..n, and end <= start gives an empty
 * slice (m = 0), never an error. `end` defaults to n.
 */
export function slice(x: Tensor, axis: number, start: number, end?: number): Tensor {
  const a = cutAxis('slice', x, axis);
  const n = x.shape[a];
  const clamp = (name: string, i: number): number => {
    assertFiniteNumber('slice', name, i);
    if (!Number.isInteger(i)) throw new ShapeError(`slice: ${name} ${i} must be an integer`);
    return Math.min(Math.max(i < 0 ? i + n : i, 0), n);
  };
  const s = clamp('start', start);
  const e = end === undefined ? n : clamp('end', end);
  return narrow('slice', x, a, s, Math.max(e - s, 0));
}

/**
 * Joins `shapes` (kernel shapes of the same rank) of `xs` along `axis`; the output has their shape with
 * the axis sizes summed. Backward cuts the gradient back into the pieces. Shared by concat and stack.
 */
function join(op: string, xs: readonly Tensor[], shapes: readonly Shape[], axis: number): Tensor {
  const k = backend();
  const outShape = shapes[0].map((d, i) => (i === axis ? shapes.reduce((acc, s) => acc + s[axis], 0) : d));
  const data = k.concat(xs.map((x) => x.data), shapes, axis);
  return result(op, data, outShape, xs, (g) => {
    let off = 0;
    return xs.map((x, i) => {
      const starts = outShape.map((_, d) => (d === axis ? off : 0));
      off += shapes[i][axis];
      return x.requiresGrad ? k.slice(g, outShape, starts, shapes[i]) : null;
    });
  }, xs.every((x) => x.dtype === 'bool'));
}

/**
 * Joins tensors along an existing axis, as `torch.cat`: [a, n_0, b], [a, n_1, b], ... -> [a, sum n_i, b].
 * Every other axis must match. Bool only if every input is bool.
 */
export function concat(xs: readonly Tensor[], axis = 0): Tensor {
  assertTensorArray('concat', 'xs', xs);
  assertFiniteNumber('concat', 'axis', axis);
  if (xs.length === 0) throw new ShapeError('concat: needs at least one tensor');
  const first = xs[0].shape;
  if (first.length === 0) throw new ShapeError('concat: tensor 0 has shape []: a scalar has no axis to join along');
  const a = normAxis('concat', axis, first.length);
  xs.forEach((x, i) => {
    if (x.ndim !== first.length) {
      throw new ShapeError(`concat: tensor ${i} has shape ${fmt(x.shape)} but tensor 0 has shape ${fmt(first)}: ranks differ`);
    }
    if (x.shape.some((d, j) => j !== a && d !== first[j])) {
      throw new ShapeError(`concat: tensor ${i} has shape ${fmt(x.shape)} but tensor 0 has shape ${fmt(first)}: all sizes except along axis ${a} must match`);
    }
  });
  return join('concat', xs, xs.map((x) => x.shape), a);
}

/**
 * Joins tensors of one shape along a new axis, as `torch.stack`: n tensors [a, b] -> [n, a, b] (axis 0),
 * [a, n, b] (axis 1), [a, b, n] (axis 2 or -1).
 */
export function stack(xs: readonly Tensor[], axis = 0): Tensor {
  assertTensorArray('stack', 'xs', xs);
  assertFiniteNumber('stack', 'axis', axis);
  if (xs.length === 0) throw new ShapeError('stack: needs at least one tensor');
  const first = xs[0].shape;
  const a = normAxis('stack', axis, first.length + 1);
  xs.forEach((x, i) => {
    if (x.shape.length !== first.length || x.shape.some((d, j) => d !== first[j])) {
      throw new ShapeError(`stack: tensor ${i} has shape ${fmt(x.shape)} but tensor 0 has shape ${fmt(first)}: all must be equal`);
    }
  });
  // Stacking is concatenating along a new axis of size 1 in each input; the data is already laid out so.
  const unsqueezed = [...first.slice(0, a), 1, ...first.slice(a)];
  return join('stack', xs, xs.map(() => unsqueezed), a);
}

/**
 * Splits along `axis`, as `torch.split`: a number is a chunk size (x [..., 7, ...] by 3 -> sizes 3, 3, 1
 * along the axis); an array lists the sizes, which must sum to the axis size. Each piece is its own
 * node, so gradients from all the pieces that are used add up in x.
 */
export function split(x: Tensor, sizes: number | readonly number[], axis = 0): Tensor[] {
  const a = cutAxis('split', x, axis);
  const n = x.shape[a];
  let list: number[];
  if (typeof sizes !== 'number' && !Array.isArray(sizes)) throw new ShapeError(`split: sizes must be a number or an array of numbers, got ${describe(sizes)}`);
  if (typeof sizes === 'number') {
    assertFiniteNumber('split', 'sizes', sizes);
    if (!Number.isInteger(sizes) || sizes <= 0) throw new ShapeError(`split: chunk size ${sizes} must be a positive integer`);
    list = [];
    for (let s = 0; s < n; s += sizes) list.push(Math.min(sizes, n - s));
    if (n === 0) list.push(0); // as torch: an empty axis gives one empty piece
  } else {
    assertNumberArray('split', 'sizes', sizes);
    if (sizes.some((s) => !Number.isInteger(s) || s < 0)) throw new ShapeError(`split: sizes ${fmt(sizes)} must be non-negative integers`);
    const total = sizes.reduce((acc, s) => acc + s, 0);
    if (total !== n) throw new ShapeError(`split: sizes ${fmt(sizes)} sum to ${total} but axis ${a} of ${fmt(x.shape)} has size ${n}`);
    list = [...sizes];
  }
  let start = 0;
  return list.map((size) => {
    const piece = narrow('split', x, a, start, size);
    start += size;
    return piece;
  });
}

/**
 * Broadcasts to `shape` (as `expand`, but a real copy): x [3] -> [2,3]; x [2,1] -> [4,2,5]. x's sizes,
 * aligned to the right, must equal shape's or be 1. The gradient sums back over the broadcast axes.
 */
export function broadcastTo(x: Tensor, shape: readonly number[]): Tensor {
  assertTensor('broadcastTo', 'x', x);
  assertNumberArray('broadcastTo', 'shape', shape);
  checkShape('broadcastTo', shape);
  if (!broadcastsTo(x.shape, shape)) {
    throw new ShapeError(`broadcastTo: cannot broadcast ${fmt(x.shape)} to ${fmt(shape)}: aligned from the right, each size must equal the target's or be 1`);
  }
  // The kernel wants equal ranks: pad x's shape with leading 1s (the same data).
  const padded = [...new Array<number>(shape.length - x.ndim).fill(1), ...x.shape];
  const data = backend().broadcastTo(x.data, padded, shape);
  return result('broadcastTo', data, shape, [x], (g) => [unbroadcast(g, shape, x.shape)], x.dtype === 'bool');
}

const ZERO = new Float32Array([0]);
const SCALAR: Shape = [];

/**
 * cond ? a : b elementwise, as `torch.where`. cond, a and b broadcast together to the output shape
 * (cond [t, t] with a [b, h, t, t] and b a number gives [b, h, t, t]). cond must be a bool tensor, as in
 * PyTorch (make one with a comparison, `x.gt(0)`, or `.toBool()`); it gets no gradient. a and b may be
 * numbers (not NaN). The gradient goes to a where cond is true and to b where it is false, each summed
 * back to its own shape. The result is bool when a and b are both bool tensors.
 */
export function where(cond: Tensor, a: Tensor | number, b: Tensor | number): Tensor {
  assertTensor('where', 'cond', cond);
  assertBoolMask('where', 'cond', cond);
  assertTensorOrNumber('where', 'a', a);
  assertTensorOrNumber('where', 'b', b);
  const operand = (v: Tensor | number): [Float32Array, Shape] => (typeof v === 'number' ? [Float32Array.of(v), SCALAR] : [v.data, v.shape]);
  const [aData, aShape] = operand(a);
  const [bData, bShape] = operand(b);
  let outShape: number[];
  try {
    outShape = broadcastShapes('where', broadcastShapes('where', cond.shape, aShape), bShape);
  } catch (e) {
    if (!(e instanceof ShapeError)) throw e;
    throw new ShapeError(`where: cond ${fmt(cond.shape)}, a ${fmt(aShape)} and b ${fmt(bShape)} cannot be broadcast together (${e.message})`);
  }
  const k = backend();
  const data = k.where(cond.data, cond.shape, aData, aShape, bData, bShape, outShape);
  const tensors = [a, b].filter((v): v is Tensor => typeof v !== 'number');
  const bool = typeof a !== 'number' && typeof b !== 'number' && a.dtype === 'bool' && b.dtype === 'bool';
  return result('where', data, outShape, tensors, (g) => {
    // Zeros where the other branch was taken, then undo the broadcast of this branch.
    const grads: (Float32Array | null)[] = [];
    if (typeof a !== 'number') {
      grads.push(a.requiresGrad ? unbroadcast(k.where(cond.data, cond.shape, g, outShape, ZERO, SCALAR, outShape), outShape, a.shape) : null);
    }
    if (typeof b !== 'number') {
      grads.push(b.requiresGrad ? unbroadcast(k.where(cond.data, cond.shape, ZERO, SCALAR, g, outShape, outShape), outShape, b.shape) : null);
    }
    return grads;
  }, bool);
}

/**
 * x with `value` wherever mask is true, as `masked_fill`: x [...], mask broadcastable to x's shape
 * (e.g. a causal mask [t, t] for scores [b, h, t, t]) -> x's shape. The mask must be bool, as in PyTorch
 * (`.toBool()` or a comparison makes one). `value` is a number (+-Infinity allowed, NaN refused) or a 0-d
 * Tensor, as PyTorch's; a 0-d value that requires grad gets the sum of the gradient at the filled
 * positions. Filled positions of x get zero gradient. A bool x stays bool (value read as nonzero).
 */
export function maskedFill(x: Tensor, mask: Tensor, value: number | Tensor): Tensor {
  assertTensor('maskedFill', 'x', x);
  assertTensor('maskedFill', 'mask', mask);
  assertBoolMask('maskedFill', 'mask', mask);
  let v: number;
  let valueTensor: Tensor | null = null;
  if (value instanceof Tensor) {
    if (value.ndim !== 0) {
      throw new ShapeError(`maskedFill: value must be a number or a 0-d Tensor (shape []), got a Tensor of shape ${fmt(value.shape)}`);
    }
    v = value.item();
    valueTensor = value;
  } else v = value;
  assertNumber('maskedFill', 'value', v);
  if (!broadcastsTo(mask.shape, x.shape)) {
    throw new ShapeError(`maskedFill: mask ${fmt(mask.shape)} cannot be broadcast to x's shape ${fmt(x.shape)}`);
  }
  const k = backend();
  const bool = x.dtype === 'bool';
  const fill = Float32Array.of(bool ? (v !== 0 ? 1 : 0) : v);
  const data = k.where(mask.data, mask.shape, fill, SCALAR, x.data, x.shape, x.shape);
  const parents = valueTensor !== null && !bool ? [x, valueTensor] : [x];
  return result('maskedFill', data, x.shape, parents, (g) => {
    const gx = x.requiresGrad ? k.where(mask.data, mask.shape, ZERO, SCALAR, g, x.shape, x.shape) : null;
    if (parents.length === 1) return [gx];
    const gv = valueTensor!.requiresGrad ? k.sum(k.where(mask.data, mask.shape, g, x.shape, ZERO, SCALAR, x.shape), x.shape, x.shape.map((_, i) => i)) : null;
    return [gx, gv];
  }, bool);
}
