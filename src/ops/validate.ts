/**
 * Argument checks at the entry of every op, so that a wrong argument fails at once with an error that
 * names the op, the argument and what it got ("maskedFill: mask must be a Tensor, got string"), rather
 * than as a TypeError from deep inside a kernel or, worse, as a silent NaN.
 *
 * Every failure is a ShapeError (the project's error for bad arguments, whatever their kind), so callers
 * catch one type.
 */
import { Tensor } from '../tensor/tensor.js';
import { fmt, normAxis, ShapeError } from '../tensor/shape.js';

/** How an error message names a value it did not expect: its type, and the value itself when short. */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (v instanceof Tensor) return `a ${v.dtype} Tensor ${fmt(v.shape)}`;
  if (typeof v === 'number') return String(v); // NaN, Infinity, 3: the value says it is a number
  if (typeof v === 'string') return 'string';
  if (typeof v !== 'object' && typeof v !== 'function') return typeof v;
  if (Array.isArray(v)) return `an array of length ${v.length}`;
  const name = (v as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === 'string' && name !== '' ? name : 'object';
}

/** Throws unless v is a Tensor: "op: name must be a Tensor, got string". */
export function assertTensor(op: string, name: string, v: unknown): asserts v is Tensor {
  if (!(v instanceof Tensor)) throw new ShapeError(`${op}: ${name} must be a Tensor, got ${describe(v)}`);
}

/** Throws unless v is a Tensor or null (an optional tensor argument, such as a norm's weight). */
export function assertOptionalTensor(op: string, name: string, v: unknown): asserts v is Tensor | null {
  if (v !== null) assertTensor(op, name, v);
}

/** Throws unless v is a finite number (not NaN, not +-Infinity): axes, probabilities, eps. */
export function assertFiniteNumber(op: string, name: string, v: unknown): asserts v is number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ShapeError(`${op}: ${name} must be a finite number, got ${describe(v)}`);
}

/**
 * Throws unless v is a number other than NaN; +-Infinity are allowed (a fill value of -Infinity is how
 * attention masks scores). NaN is refused so that none enters a result unasked.
 */
export function assertNumber(op: string, name: string, v: unknown): asserts v is number {
  if (typeof v !== 'number' || Number.isNaN(v)) throw new ShapeError(`${op}: ${name} must be a number (not NaN), got ${describe(v)}`);
}

/** Throws unless v is a Tensor or a number other than NaN (the operands of where). */
export function assertTensorOrNumber(op: string, name: string, v: unknown): asserts v is Tensor | number {
  if (typeof v === 'number') assertNumber(op, name, v);
  else if (!(v instanceof Tensor)) throw new ShapeError(`${op}: ${name} must be a Tensor or a number, got ${describe(v)}`);
}

/** Throws unless v is an array of finite numbers (a shape, a permutation, a list of axes or sizes). */
export function assertNumberArray(op: string, name: string, v: unknown): asserts v is readonly number[] {
  if (!Array.isArray(v)) throw new ShapeError(`${op}: ${name} must be an array of numbers, got ${describe(v)}`);
  v.forEach((d, i) => assertFiniteNumber(op, `${name}[${i}]`, d));
}

/** Throws unless v is a non-empty array of Tensors (the inputs of concat and stack), naming the bad entry. */
export function assertTensorArray(op: string, name: string, v: unknown): asserts v is readonly Tensor[] {
  if (!Array.isArray(v)) throw new ShapeError(`${op}: ${name} must be an array of Tensors, got ${describe(v)}`);
  v.forEach((t, i) => assertTensor(op, `${name}[${i}]`, t));
}

/**
 * Throws unless `mask` is a bool tensor, as PyTorch requires of `masked_fill`'s mask and `where`'s
 * condition. A float mask is ambiguous here (it could be an additive bias of 0 and -Infinity), so it
 * is not read as nonzero = true; the message says how to make a bool one.
 */
export function assertBoolMask(op: string, name: string, mask: Tensor): void {
  if (mask.dtype !== 'bool') {
    throw new ShapeError(
      `${op}: ${name} must be a bool tensor, got ${mask.dtype} ${fmt(mask.shape)}: call .toBool() on it (nonzero = true) or build it with a comparison such as x.gt(0)`,
    );
  }
}

/**
 * A reduction axis of a tensor of `ndim` dimensions, normalized to 0..ndim-1, or null for a 0-d tensor,
 * where PyTorch accepts -1 and 0 (and the reduction is over nothing: the one element is kept).
 */
export function axisOrScalar(op: string, axis: unknown, ndim: number): number | null {
  assertFiniteNumber(op, 'axis', axis);
  if (ndim === 0) {
    if (axis !== 0 && axis !== -1) throw new ShapeError(`${op}: axis ${axis} is out of range for a tensor of 0 dimensions (expected -1..0)`);
    return null;
  }
  return normAxis(op, axis, ndim);
}
