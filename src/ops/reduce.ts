/** Reductions along axes: sum, mean, max, argmax. */
import { backend } from '../backend/backend.js';
import { Tensor } from '../tensor/tensor.js';
import { fmt, normAxes, normAxis, numel, ShapeError } from '../tensor/shape.js';

export interface ReduceOptions {
  /** Keep reduced axes with size 1 (as PyTorch's keepdim). */
  keepdim?: boolean;
}

function reducedShape(shape: readonly number[], axes: readonly number[], keepdim: boolean): number[] {
  return keepdim ? shape.map((d, i) => (axes.includes(i) ? 1 : d)) : shape.filter((_, i) => !axes.includes(i));
}

/** Sum over `axes` (all axes if omitted). */
export function sum(x: Tensor, axes?: number | readonly number[], opts: ReduceOptions = {}): Tensor {
  const ax = normAxes('sum', axes, x.ndim);
  const kern = backend();
  const keptShape = x.shape.map((d, i) => (ax.includes(i) ? 1 : d));
  const out = kern.sum(x.data, x.shape, ax);
  return Tensor.fromOp('sum', out, reducedShape(x.shape, ax, opts.keepdim ?? false), [x], (g) => [kern.broadcastTo(g, keptShape, x.shape)]);
}

/** Mean over `axes` (all axes if omitted). */
export function mean(x: Tensor, axes?: number | readonly number[], opts: ReduceOptions = {}): Tensor {
  const ax = normAxes('mean', axes, x.ndim);
  const count = ax.reduce((c, a) => c * x.shape[a], 1);
  if (count === 0) throw new ShapeError(`mean: reducing ${fmt(x.shape)} over an empty axis`);
  const kern = backend();
  const keptShape = x.shape.map((d, i) => (ax.includes(i) ? 1 : d));
  const out = kern.scalar('div', kern.sum(x.data, x.shape, ax), count, false);
  return Tensor.fromOp('mean', out, reducedShape(x.shape, ax, opts.keepdim ?? false), [x], (g) => [
    kern.broadcastTo(kern.scalar('div', g, count, false), keptShape, x.shape),
  ]);
}

function maxAlong(op: string, x: Tensor, axis: number | undefined) {
  if (x.size === 0) throw new ShapeError(`${op}: ${fmt(x.shape)} is empty`);
  const flat = axis === undefined || x.ndim === 0; // a 0-d tensor reduces as its one element
  const a = flat ? 0 : normAxis(op, axis!, x.ndim);
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
  const shape = flat ? (opts.keepdim ? x.shape.map(() => 1) : []) : reducedShape(x.shape, [a], opts.keepdim ?? false);
  return Tensor.fromOp('max', values, shape, [x], (g) => {
    const dx = new Float32Array(x.size);
    for (let o = 0; o < outer; o++) for (let j = 0; j < inner; j++) dx[(o * n + indices[o * inner + j]) * inner + j] = g[o * inner + j];
    return [dx];
  });
}

/** Index of the first maximum along `axis` (over all elements, flattened, if omitted); no gradient. */
export function argmax(x: Tensor, axis?: number, opts: ReduceOptions = {}): Tensor {
  const { a, flat, indices } = maxAlong('argmax', x, axis);
  const shape = flat ? [] : reducedShape(x.shape, [a], opts.keepdim ?? false);
  return new Tensor(Float32Array.from(indices), shape);
}
