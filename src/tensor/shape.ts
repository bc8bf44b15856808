/** Shapes, strides, broadcasting and the errors that name them. Pure functions; no tensors here. */

export type Shape = readonly number[];

/** An error about shapes or arguments: the message names the op, the argument and what was expected. */
export class ShapeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ShapeError';
  }
}

/** `[2,3,4]`: the way every error message writes a shape. */
export function fmt(shape: Shape): string {
  return `[${shape.join(',')}]`;
}

export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Row-major strides: strides(shape)[i] = product of shape[i+1..]. */
export function strides(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

export function sameShape(a: Shape, b: Shape): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** NumPy broadcasting: align from the right; each pair of sizes must be equal or one of them 1. */
export function broadcastShapes(op: string, a: Shape, b: Shape): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new ShapeError(
        `${op}: shapes ${fmt(a)} and ${fmt(b)} cannot be broadcast: dimension ${i - n} is ${da} in one and ${db} in the other (each pair must be equal or one of them 1)`,
      );
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** Normalizes a possibly negative axis, with an error naming the op and the rank. */
export function normAxis(op: string, axis: number, ndim: number): number {
  const n = Math.max(ndim, 1); // a 0-d tensor takes axis 0 or -1, as PyTorch
  if (!Number.isInteger(axis) || axis < -n || axis >= n) {
    throw new ShapeError(`${op}: axis ${axis} is out of range for a tensor of ${ndim} dimensions (expected ${-n}..${n - 1})`);
  }
  return axis < 0 ? axis + n : axis;
}

/** Normalizes an axis list (undefined = all axes), sorted and without duplicates. */
export function normAxes(op: string, axes: number | readonly number[] | undefined, ndim: number): number[] {
  if (axes === undefined) return Array.from({ length: ndim }, (_, i) => i);
  const list = typeof axes === 'number' ? [axes] : axes;
  const out = [...new Set(list.map((a) => normAxis(op, a, ndim)))].sort((x, y) => x - y);
  if (out.length !== list.length) throw new ShapeError(`${op}: axes [${list.join(',')}] repeat an axis`);
  return ndim === 0 ? [] : out; // a 0-d tensor has no axis to reduce: axis 0 / -1 name the tensor itself
}

/** The axes of `outShape` that were broadcast from `inShape`: sum a gradient over them to undo broadcasting. */
export function broadcastedAxes(inShape: Shape, outShape: Shape): number[] {
  const axes: number[] = [];
  const off = outShape.length - inShape.length;
  for (let i = 0; i < outShape.length; i++) {
    const d = i < off ? 1 : inShape[i - off];
    if (d === 1 && outShape[i] !== 1) axes.push(i);
    else if (i < off) axes.push(i);
  }
  return axes;
}

export function checkShape(op: string, shape: Shape): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new ShapeError(`${op}: invalid shape ${fmt(shape)}: sizes must be non-negative integers`);
  }
}

/**
 * For each flat index of `outShape`, the flat index of the element of `inShape` that broadcasting reads
 * (inShape is aligned to the right; its sizes equal outShape's or are 1).
 */
export function broadcastIndexer(inShape: readonly number[], outShape: readonly number[]): Int32Array {
  const r = outShape.length;
  const off = r - inShape.length;
  const inStrides = new Array<number>(r).fill(0); // a broadcast axis (size 1, or missing) steps by 0
  let acc = 1;
  for (let i = inShape.length - 1; i >= 0; i--) {
    inStrides[i + off] = inShape[i] === 1 ? 0 : acc;
    acc *= inShape[i];
  }
  return stridedOffsets(outShape, inStrides, 0);
}

/**
 * For each flat index of `shape` (row-major), the offset base + sum(idx[d] * step[d]) in some other
 * array: an odometer over `shape` that adds a step per axis. Broadcasting, permute and slice are this
 * with different steps and bases.
 */
export function stridedOffsets(shape: readonly number[], step: readonly number[], base: number): Int32Array {
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
