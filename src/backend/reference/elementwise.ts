/** Reference elementwise kernels: each value computed in float64 and rounded once to float32. */
import type { BinaryOp, ElementwiseKernels, UnaryOp } from '../kernels/elementwise.js';
import { broadcastIndexer, numel } from '../../tensor/shape.js';

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const INV_SQRT_2 = 1 / Math.SQRT2;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/** erf in float64: Taylor series below |x| = 4 (cancellation costs < 1e-11), asymptotic erfc above. */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 4) {
    let term = ax;
    let sum = ax;
    const x2 = ax * ax;
    for (let n = 1; n < 200; n++) {
      term *= -x2 / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    const r = (2 / Math.sqrt(Math.PI)) * sum;
    return x < 0 ? -r : r;
  }
  const x2 = ax * ax;
  const erfc = (Math.exp(-x2) / (ax * Math.sqrt(Math.PI))) * (1 - 1 / (2 * x2) + 3 / (4 * x2 * x2) - 15 / (8 * x2 * x2 * x2));
  return x < 0 ? erfc - 1 : 1 - erfc;
}

function unaryFn(op: UnaryOp): (x: number) => number {
  switch (op) {
    case 'neg': return (x) => -x;
    case 'exp': return Math.exp;
    case 'log': return Math.log;
    case 'sqrt': return Math.sqrt;
    case 'rsqrt': return (x) => 1 / Math.sqrt(x);
    case 'abs': return Math.abs;
    case 'tanh': return Math.tanh;
    case 'sigmoid': return (x) => 1 / (1 + Math.exp(-x));
    case 'relu': return (x) => (x > 0 ? x : 0);
    case 'gelu_tanh': return (x) => 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)));
    case 'gelu_erf': return (x) => 0.5 * x * (1 + erf(x * INV_SQRT_2));
    case 'silu': return (x) => x / (1 + Math.exp(-x));
  }
}

/** f'(x), given x and the forward output y. */
function derivFn(op: UnaryOp): (x: number, y: number) => number {
  switch (op) {
    case 'neg': return () => -1;
    case 'exp': return (_x, y) => y;
    case 'log': return (x) => 1 / x;
    case 'sqrt': return (_x, y) => 0.5 / y;
    case 'rsqrt': return (x) => -0.5 * Math.pow(x, -1.5);
    case 'abs': return (x) => (x > 0 ? 1 : x < 0 ? -1 : 0);
    case 'tanh': return (_x, y) => 1 - y * y;
    case 'sigmoid': return (_x, y) => y * (1 - y);
    case 'relu': return (x) => (x > 0 ? 1 : 0);
    case 'gelu_tanh': return (x) => {
      const t = Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x));
      return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x);
    };
    case 'gelu_erf': return (x) => 0.5 * (1 + erf(x * INV_SQRT_2)) + x * INV_SQRT_2PI * Math.exp(-0.5 * x * x);
    case 'silu': return (x) => {
      const s = 1 / (1 + Math.exp(-x));
      return s * (1 + x * (1 - s));
    };
  }
}

export function binaryFn(op: BinaryOp): (a: number, b: number) => number {
  switch (op) {
    case 'add': return (a, b) => a + b;
    case 'sub': return (a, b) => a - b;
    case 'mul': return (a, b) => a * b;
    case 'div': return (a, b) => a / b;
    case 'pow': return Math.pow;
    // NaN propagates, as torch.maximum / torch.minimum.
    case 'maximum': return (a, b) => (a !== a || b !== b ? NaN : a > b ? a : b);
    case 'minimum': return (a, b) => (a !== a || b !== b ? NaN : a < b ? a : b);
    case 'eq': return (a, b) => (a === b ? 1 : 0);
    case 'ne': return (a, b) => (a !== b ? 1 : 0);
    case 'lt': return (a, b) => (a < b ? 1 : 0);
    case 'le': return (a, b) => (a <= b ? 1 : 0);
    case 'gt': return (a, b) => (a > b ? 1 : 0);
    case 'ge': return (a, b) => (a >= b ? 1 : 0);
  }
}

/** Whether `shape`, without leading 1s, equals the trailing axes of `outShape`. */
function isTrailing(shape: readonly number[], outShape: readonly number[]): boolean {
  let i = 0;
  while (i < shape.length && shape[i] === 1) i++;
  const rest = shape.slice(i);
  if (rest.length > outShape.length) return false;
  const off = outShape.length - rest.length;
  return rest.every((d, j) => d === outShape[off + j]);
}

/** Operands of one shape need no index maps; the common ops get their own loops (no call per element). */
function binarySameShape(op: BinaryOp, a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length);
  switch (op) {
    case 'add': for (let i = 0; i < a.length; i++) out[i] = a[i] + b[i]; break;
    case 'sub': for (let i = 0; i < a.length; i++) out[i] = a[i] - b[i]; break;
    case 'mul': for (let i = 0; i < a.length; i++) out[i] = a[i] * b[i]; break;
    case 'div': for (let i = 0; i < a.length; i++) out[i] = a[i] / b[i]; break;
    default: {
      const f = binaryFn(op);
      for (let i = 0; i < a.length; i++) out[i] = f(a[i], b[i]);
    }
  }
  return out;
}

export const elementwise: ElementwiseKernels = {
  unary(op, x) {
    const f = unaryFn(op);
    const y = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) y[i] = f(x[i]);
    return y;
  },

  unaryBackward(op, x, y, dy) {
    const d = derivFn(op);
    const dx = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) dx[i] = d(x[i], y[i]) * dy[i];
    return dx;
  },

  binary(op, a, aShape, b, bShape, outShape) {
    const total = numel(outShape);
    if (a.length === b.length && a.length === total) return binarySameShape(op, a, b);
    const f = binaryFn(op);
    // b repeats along leading axes (a bias [d] added to [n, d]): no index map needed.
    if (a.length === total && isTrailing(bShape, outShape)) {
      const out = new Float32Array(total);
      const m = b.length;
      for (let i = 0; i < total; i++) out[i] = f(a[i], b[i % m]);
      return out;
    }
    const ia = broadcastIndexer(aShape, outShape);
    const ib = broadcastIndexer(bShape, outShape);
    const out = new Float32Array(ia.length);
    for (let i = 0; i < out.length; i++) out[i] = f(a[ia[i]], b[ib[i]]);
    return out;
  },

  scalar(op, x, s, scalarFirst) {
    const f = binaryFn(op);
    const y = new Float32Array(x.length);
    if (scalarFirst) for (let i = 0; i < x.length; i++) y[i] = f(s, x[i]);
    else for (let i = 0; i < x.length; i++) y[i] = f(x[i], s);
    return y;
  },
};
