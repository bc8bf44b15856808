/**
 * Reductions along axes: sum, mean, max, argmax.
 *
 * A 0-d tensor has no axes, but, as in PyTorch, axis -1 and 0 are accepted on it and reduce over
 * nothing: sum, mean and max of a 0-d tensor along either are the tensor's one value (shape [], also
 * with keepdim), and argmax is 0.
 */
import { backend } from '../backend/backend.js';
import { Tensor } from '../tensor/tensor.js';
import { fmt, numel, ShapeError } from '../tensor/shape.js';
import { assertTensor, axisOrScalar, describe } from './validate.js';

export interface ReduceOptions {
  /** Keep reduced axes with size 1 (as PyTorch's keepdim). */
  keepdim?: boolean;
}

function keepdimOf(op: string, opts: unknown): boolean {
  if (opts === undefined) return false;
  if (typeof opts !== 'object' || opts === null) throw new ShapeError(`${op}: options must be an object such as { keepdim: true }, got ${describe(opts)}`);
  const k = (opts as ReduceOptions).keepdim;
  if (k !== undefined && typeof k !== 'boolean') throw new ShapeError(`${op}: keepdim must be a boolean, got ${describe(k)}`);
  return k ?? false;
}

function reducedShape(shape: readonly number[], axes: readonly number[], keepdim: boolean): number[] {
  return keepdim ? shape.map((d, i) => (axes.includes(i) ? 1 : d)) : shape.filter((_, i) => !axes.includes(i));
}

/**
 * The axes to reduce, normalized (negative counted from the end), sorted and distinct. Omitted: all
 * axes. An empty list also means all axes, as in PyTorch 1.13 (`x.sum(dim=[])` sums everything; the
 * version the fixtures come from). On a 0-d tensor, where -1 and 0 are accepted, the result is [] (there
 * is no axis to reduce).
 */
function reduceAxes(op: string, x: Tensor, axes: unknown): number[] {
  const all = Array.from({ length: x.ndim }, (_, i) => i);
  if (axes === undefined) return all;
  if (typeof axes !== 'number' && !Array.isArray(axes)) throw new ShapeError(`${op}: axes must be a number or an array of numbers, got ${describe(axes)}`);
  const list: readonly unknown[] = typeof axes === 'number' ? [axes] : axes;
  if (list.length === 0) return all;
  const norm = list.map((a) => axisOrScalar(op, a, x.ndim) ?? 0);
  const out = [...new Set(norm)].sort((p, q) => p - q);
  if (out.length !== list.length) throw new ShapeError(`${op}: axes [${list.join(',')}] repeat an axis of ${fmt(x.shape)}`);
  return x.ndim === 0 ? [] : out;
}

/**
 * Sum over `axes` (a number or a list; all axes if omitted or an empty list, as PyTorch 1.13):
 * x [2,3,4] over [0,2] -> [3] ([1,3,1] with keepdim).
 */
export function sum(x: Tensor, axes?: number | readonly number[], opts: ReduceOptions = {}): Tensor {
  assertTensor('sum', 'x', x);
  const ax = reduceAxes('sum', x, axes);
  const keepdim = keepdimOf('sum', opts);
  const kern = backend();
  const keptShape = x.shape.map((d, i) => (ax.includes(i) ? 1 : d));
  const out = kern.sum(x.data, x.shape, ax);
  return Tensor.fromOp('sum', out, reducedShape(x.shape, ax, keepdim), [x], (g) => [kern.broadcastTo(g, keptShape, x.shape)]);
}

/**
 * Mean over `axes` (as `sum`: all if omitted or an empty list). The count is the product of the
 * reduced sizes (1 for a 0-d tensor). Reducing over an empty axis throws rather than giving NaN.
 */
export function mean(x: Tensor, axes?: number | readonly number[], opts: ReduceOptions = {}): Tensor {
  assertTensor('mean', 'x', x);
  const ax = reduceAxes('mean', x, axes);
  const keepdim = keepdimOf('mean', opts);
  const count = numel(ax.map((a) => x.shape[a]));
  if (count === 0) throw new ShapeError(`mean: reducing ${fmt(x.shape)} over an empty axis`);
  const kern = backend();
  const keptShape = x.shape.map((d, i) => (ax.includes(i) ? 1 : d));
  const out = kern.scalar('div', kern.sum(x.data, x.shape, ax), count, false);
  return Tensor.fromOp('mean', out, reducedShape(x.shape, ax, keepdim), [x], (g) => [
    kern.broadcastTo(kern.scalar('div', g, count, false), keptShape, x.shape),
  ]);
}

function maxAlong(op: string, x: Tensor, axis: number | undefined) {
  assertTensor(op, 'x', x);
  // A 0-d tensor (axis -1, 0 or omitted) reduces as its one element; so does any tensor without an axis.
  const a0 = axis === undefined ? null : axisOrScalar(op, axis, x.ndim);
  if (x.size === 0) throw new ShapeError(`${op}: ${fmt(x.shape)} is empty`);
  const flat = a0 === null;
  const a = a0 ?? 0;
  const shape = flat ? [x.size] : x.shape;
  const outer = numel(shape.slice(0, a));
  const inner = numel(shape.slice(a + 1));
  const n = shape[a];
  return { a, flat, outer, inner, n, ...backend().max(x.data, outer, n, inner) };
}

/**
 * Max over one axis (all elements if `axis` is omitted). The gradient flows to the first maximal
 * element, as the index `argmax` returns.
 */
export function max(x: Tensor, axis?: number, opts: ReduceOptions = {}): Tensor {
  const { a, flat, outer, inner, n, values, indices } = maxAlong('max', x, axis);
  const keepdim = keepdimOf('max', opts);
  const shape = flat ? (keepdim ? x.shape.map(() => 1) : []) : reducedShape(x.shape, [a], keepdim);
  return Tensor.fromOp('max', values, shape, [x], (g) => {
    const dx = new Float32Array(x.size);
    for (let o = 0; o < outer; o++) for (let j = 0; j < inner; j++) dx[(o * n + indices[o * inner + j]) * inner + j] = g[o * inner + j];
    return [dx];
  });
}

/** Index of the first maximum along `axis` (over all elements, flattened, if omitted); no gradient. */
export function argmax(x: Tensor, axis?: number, opts: ReduceOptions = {}): Tensor {
  const { a, flat, indices } = maxAlong('argmax', x, axis);
  const keepdim = keepdimOf('argmax', opts);
  const shape = flat ? [] : reducedShape(x.shape, [a], keepdim);
  return new Tensor(Float32Array.from(indices), shape);
}
