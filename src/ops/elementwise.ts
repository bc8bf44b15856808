/**
 * Elementwise ops with NumPy broadcasting, and their gradients. `b` may be a plain number (a scalar op).
 */
import { backend } from '../backend/backend.js';
import type { BinaryOp, CompareOp, UnaryOp } from '../backend/kernels/elementwise.js';
import { Tensor } from '../tensor/tensor.js';
import { broadcastShapes } from '../tensor/shape.js';
import { unbroadcast } from './broadcast.js';

export type TensorLike = Tensor | number;

function unary(op: UnaryOp, x: Tensor): Tensor {
  const k = backend();
  const y = k.unary(op, x.data);
  return Tensor.fromOp(op, y, x.shape, [x], (g) => [k.unaryBackward(op, x.data, y, g)]);
}

export const neg = (x: Tensor): Tensor => unary('neg', x);
export const exp = (x: Tensor): Tensor => unary('exp', x);
export const log = (x: Tensor): Tensor => unary('log', x);
export const sqrt = (x: Tensor): Tensor => unary('sqrt', x);
export const rsqrt = (x: Tensor): Tensor => unary('rsqrt', x);
export const abs = (x: Tensor): Tensor => unary('abs', x);
export const tanh = (x: Tensor): Tensor => unary('tanh', x);
export const sigmoid = (x: Tensor): Tensor => unary('sigmoid', x);
export const relu = (x: Tensor): Tensor => unary('relu', x);
export const silu = (x: Tensor): Tensor => unary('silu', x);

/** GELU, as `torch.nn.functional.gelu`: `approximate: 'none'` (exact, erf) or `'tanh'` (GPT-2's). */
export function gelu(x: Tensor, opts: { approximate?: 'none' | 'tanh' } = {}): Tensor {
  return unary(opts.approximate === 'tanh' ? 'gelu_tanh' : 'gelu_erf', x);
}

/** a (op) b where both are tensors, broadcasting; backward sums gradients back to each input's shape. */
function binary(
  op: BinaryOp,
  a: Tensor,
  b: Tensor,
  grads: (g: Float32Array, out: Float32Array, outShape: readonly number[]) => [Float32Array | null, Float32Array | null],
): Tensor {
  const outShape = broadcastShapes(op, a.shape, b.shape);
  const out = backend().binary(op, a.data, a.shape, b.data, b.shape, outShape);
  return Tensor.fromOp(op, out, outShape, [a, b], (g) => {
    const [ga, gb] = grads(g, out, outShape);
    return [
      ga && a.requiresGrad ? unbroadcast(ga, outShape, a.shape) : null,
      gb && b.requiresGrad ? unbroadcast(gb, outShape, b.shape) : null,
    ];
  });
}

/** Elementwise product of a gradient with a broadcast operand, at the output's shape. */
function mulB(g: Float32Array, gShape: readonly number[], x: Tensor): Float32Array {
  return backend().binary('mul', g, gShape, x.data, x.shape, gShape);
}

export function add(a: Tensor, b: TensorLike): Tensor {
  if (typeof b === 'number') {
    return Tensor.fromOp('add', backend().scalar('add', a.data, b, false), a.shape, [a], (g) => [g]);
  }
  return binary('add', a, b, (g) => [g, g]);
}

export function sub(a: Tensor, b: TensorLike): Tensor {
  if (typeof b === 'number') {
    return Tensor.fromOp('sub', backend().scalar('sub', a.data, b, false), a.shape, [a], (g) => [g]);
  }
  return binary('sub', a, b, (g) => [g, backend().unary('neg', g)]);
}

export function mul(a: Tensor, b: TensorLike): Tensor {
  const k = backend();
  if (typeof b === 'number') {
    return Tensor.fromOp('mul', k.scalar('mul', a.data, b, false), a.shape, [a], (g) => [k.scalar('mul', g, b, false)]);
  }
  return binary('mul', a, b, (g, _out, outShape) => [a.requiresGrad ? mulB(g, outShape, b) : null, b.requiresGrad ? mulB(g, outShape, a) : null]);
}

export function div(a: Tensor, b: TensorLike): Tensor {
  const k = backend();
  if (typeof b === 'number') {
    return Tensor.fromOp('div', k.scalar('div', a.data, b, false), a.shape, [a], (g) => [k.scalar('div', g, b, false)]);
  }
  return binary('div', a, b, (g, out, outShape) => [
    a.requiresGrad ? k.binary('div', g, outShape, b.data, b.shape, outShape) : null,
    // d(a/b)/db = -out / b
    b.requiresGrad ? k.unary('neg', k.binary('div', k.binary('mul', g, outShape, out, outShape, outShape), outShape, b.data, b.shape, outShape)) : null,
  ]);
}

/**
 * a ** b. Gradients as PyTorch's pow_backward: d/da = b * a**(b-1), taken as 0 where b == 0 (not
 * 0 * 0**-1 = NaN); d/db = a**b * ln(a), taken as 0 where a == 0 and b >= 0 (not 0 * -inf), and NaN
 * for a < 0 as in PyTorch.
 */
export function pow(a: Tensor, b: TensorLike): Tensor {
  const k = backend();
  if (typeof b === 'number') {
    const y = k.scalar('pow', a.data, b, false);
    return Tensor.fromOp('pow', y, a.shape, [a], (g) => {
      if (b === 0) return [new Float32Array(a.size)];
      const d = k.scalar('mul', k.scalar('pow', a.data, b - 1, false), b, false);
      return [k.binary('mul', g, a.shape, d, a.shape, a.shape)];
    });
  }
  return binary('pow', a, b, (g, out, outShape) => {
    const ea = k.broadcastTo(a.data, padLeft(a.shape, outShape.length), outShape);
    const eb = k.broadcastTo(b.data, padLeft(b.shape, outShape.length), outShape);
    let ga: Float32Array | null = null;
    let gb: Float32Array | null = null;
    if (a.requiresGrad) {
      ga = new Float32Array(out.length);
      for (let i = 0; i < ga.length; i++) ga[i] = eb[i] === 0 ? 0 : g[i] * eb[i] * Math.pow(ea[i], eb[i] - 1);
    }
    if (b.requiresGrad) {
      gb = new Float32Array(out.length);
      for (let i = 0; i < gb.length; i++) gb[i] = ea[i] === 0 && eb[i] >= 0 ? 0 : g[i] * out[i] * Math.log(ea[i]);
    }
    return [ga, gb];
  });
}

function padLeft(shape: readonly number[], rank: number): number[] {
  return [...new Array<number>(rank - shape.length).fill(1), ...shape];
}

/** Elementwise max of two tensors; the gradient goes to the larger, halves on ties, to both where NaN (as PyTorch). */
export function maximum(a: Tensor, b: Tensor): Tensor {
  return minmax('maximum', a, b);
}

/** Elementwise min of two tensors; gradients as `maximum`'s, mirrored. */
export function minimum(a: Tensor, b: Tensor): Tensor {
  return minmax('minimum', a, b);
}

function minmax(op: 'maximum' | 'minimum', a: Tensor, b: Tensor): Tensor {
  const k = backend();
  return binary(op, a, b, (g, _out, outShape) => {
    // PyTorch: grad_a = where(a == b, g / 2, g).masked_fill(a loses, 0); a NaN loses nowhere, so both get g.
    const aLoses = k.binary(op === 'maximum' ? 'lt' : 'gt', a.data, a.shape, b.data, b.shape, outShape);
    const bLoses = k.binary(op === 'maximum' ? 'gt' : 'lt', a.data, a.shape, b.data, b.shape, outShape);
    const tie = k.binary('eq', a.data, a.shape, b.data, b.shape, outShape);
    const wa = new Float32Array(g.length);
    const wb = new Float32Array(g.length);
    for (let i = 0; i < g.length; i++) {
      const share = tie[i] ? 0.5 * g[i] : g[i];
      wa[i] = aLoses[i] ? 0 : share;
      wb[i] = bLoses[i] ? 0 : share;
    }
    return [wa, wb];
  });
}

function compare(op: CompareOp, a: Tensor, b: TensorLike): Tensor {
  const k = backend();
  if (typeof b === 'number') return new Tensor(k.scalar(op, a.data, b, false), a.shape, false, null, 'bool');
  const outShape = broadcastShapes(op, a.shape, b.shape);
  return new Tensor(k.binary(op, a.data, a.shape, b.data, b.shape, outShape), outShape, false, null, 'bool');
}

/** Comparisons give bool tensors (masks) and carry no gradient. */
export const eq = (a: Tensor, b: TensorLike): Tensor => compare('eq', a, b);
export const ne = (a: Tensor, b: TensorLike): Tensor => compare('ne', a, b);
export const lt = (a: Tensor, b: TensorLike): Tensor => compare('lt', a, b);
export const le = (a: Tensor, b: TensorLike): Tensor => compare('le', a, b);
export const gt = (a: Tensor, b: TensorLike): Tensor => compare('gt', a, b);
export const ge = (a: Tensor, b: TensorLike): Tensor => compare('ge', a, b);
