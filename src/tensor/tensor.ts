/**
 * The tensor: float32 data in row-major order, a shape, and (when it was made by an op on tensors
 * that require gradients) the node of the autograd graph that made it.
 *
 * Memory ownership: ops never write into their inputs' data. Most return fresh arrays; shape-only ops
 * (reshape, squeeze, unsqueeze) and identities (dropout in eval) return tensors that share their input's
 * array, as PyTorch's views do. Only optimizers and `loadStateDict` write into a tensor's data, outside
 * the graph, and they call `markModified()`: each array carries a version, every graph node records its
 * inputs' versions, and backward() refuses to run through a node whose input changed since (PyTorch's
 * "modified by an inplace operation"), instead of computing a silently wrong gradient.
 *
 * Autograd is micrograd's design on tensors: each op records its parents and a `backward` that maps the
 * gradient of its output to the gradients of its parents; `loss.backward()` walks the graph in reverse
 * topological order, accumulating into `.grad` of every leaf that requires it.
 */
import { fmt, numel, checkShape, ShapeError, type Shape } from './shape.js';
import { Generator, globalGenerator } from './random.js';
import { backend } from '../backend/backend.js';

/** Maps the gradient of an op's output to the gradients of its parents (null where a parent needs none). */
export type BackwardFn = (gradOut: Float32Array) => (Float32Array | null)[];

/** One node of the autograd graph. */
export interface GradNode {
  /** The op's name, for error messages and debugging: 'matmul', 'softmax', ... */
  readonly op: string;
  /** The op's inputs; emptied when the node is freed, so that a kept output does not keep them alive. */
  parents: readonly Tensor[];
  /** The inputs' data versions when the op read them. */
  readonly versions: readonly number[];
  backward: BackwardFn | null; // null once freed by a backward() without retainGraph
}

/** Version of each data array, bumped by in-place writers; keyed by the array so that views share it. */
const versions = new WeakMap<Float32Array, number>();

let gradEnabled = true;

/** Whether ops record the graph now (false inside `noGrad`). */
export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs `fn` without recording the autograd graph, as `torch.no_grad()`: for inference and optimizer steps. */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** Nested arrays of numbers, as `fromArray` takes them. */
export type NestedArray = number | readonly NestedArray[];
/** Nested arrays of booleans: `fromArray` makes a 'bool' tensor of them (a mask). */
export type NestedBoolArray = boolean | readonly NestedBoolArray[];

/**
 * Flattens nested arrays (of numbers, or of booleans: every leaf must be of the first leaf's kind),
 * checking that they are rectangular; returns the values, the inferred shape and whether they were booleans.
 */
function flattenNested(values: NestedArray | NestedBoolArray): { flat: Float32Array; shape: number[]; bool: boolean } {
  const shape: number[] = [];
  let v: unknown = values;
  while (Array.isArray(v)) {
    shape.push(v.length);
    v = v[0];
  }
  const bool = typeof v === 'boolean';
  const leaf = bool ? 'boolean' : 'number';
  const flat: number[] = [];
  const walk = (x: unknown, depth: number): void => {
    if (depth === shape.length) {
      if (typeof x !== leaf) throw new ShapeError(`fromArray: expected a ${leaf} at depth ${depth}, got ${Array.isArray(x) ? 'an array (ragged nested array)' : typeof x}`);
      flat.push(bool ? (x ? 1 : 0) : (x as number));
      return;
    }
    if (!Array.isArray(x) || x.length !== shape[depth]) {
      throw new ShapeError(`fromArray: ragged nested array: expected ${shape[depth]} elements at depth ${depth}`);
    }
    for (const y of x) walk(y, depth + 1);
  };
  walk(values, 0);
  return { flat: Float32Array.from(flat), shape, bool };
}

export interface RandomOptions {
  /** The generator to draw from; the default generator (see `manualSeed`) if omitted. */
  generator?: Generator;
  requiresGrad?: boolean;
}

/**
 * 'bool' tensors hold 0 and 1 (stored as float32): masks, where a float tensor of the same values would
 * mean an additive bias. They come from boolean arrays and comparisons, and carry no gradient.
 */
export type DType = 'float32' | 'bool';

export class Tensor {
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly data: Float32Array;
  #requiresGrad = false;
  /** The accumulated gradient, same shape as this tensor; null until a backward() reaches it. */
  grad: Tensor | null = null;
  /** The op that made this tensor, or null for a leaf. */
  readonly node: GradNode | null;
  /** Keep `.grad` on this non-leaf tensor too (as `retain_grad()`), for inspecting activations. */
  retainsGrad = false;

  constructor(data: Float32Array, shape: Shape, requiresGrad = false, node: GradNode | null = null, dtype: DType = 'float32') {
    if (dtype === 'bool' && requiresGrad) throw new Error('Tensor: a bool tensor cannot require grad');
    this.dtype = dtype;
    checkShape('Tensor', shape);
    if (data.length !== numel(shape)) {
      throw new ShapeError(`Tensor: data has ${data.length} elements but shape ${fmt(shape)} needs ${numel(shape)}`);
    }
    // The active backend may keep tensors in its own memory (wasm); then data made elsewhere is copied in once.
    const b = backend();
    this.data = b.adopt === undefined ? data : b.adopt(data);
    this.shape = Object.freeze([...shape]);
    this.requiresGrad = requiresGrad;
    this.node = node;
  }

  /** Whether gradients flow to this tensor; a leaf with requiresGrad gets `.grad` from backward(). */
  get requiresGrad(): boolean {
    return this.#requiresGrad;
  }

  set requiresGrad(value: boolean) {
    if (value && this.dtype === 'bool') throw new Error(`Tensor: a bool tensor ${fmt(this.shape)} cannot require grad (it is a mask)`);
    this.#requiresGrad = value;
  }

  /** The version of this tensor's data: bumped by every in-place write (`markModified`). */
  get version(): number {
    return versions.get(this.data) ?? 0;
  }

  /** Records that this tensor's data was written in place (optimizer steps, `loadStateDict`). */
  markModified(): void {
    versions.set(this.data, this.version + 1);
  }

  /**
   * Makes the output of an op. Records the graph only if grad is enabled and some parent requires grad,
   * so inference builds no graph at all.
   */
  static fromOp(op: string, data: Float32Array, shape: Shape, parents: readonly Tensor[], backward: BackwardFn): Tensor {
    if (gradEnabled && parents.some((p) => p.requiresGrad)) {
      return new Tensor(data, shape, true, { op, parents, versions: parents.map((p) => p.version), backward });
    }
    return new Tensor(data, shape);
  }

  // ---- creation ----

  static zeros(shape: Shape, requiresGrad = false): Tensor {
    checkShape('zeros', shape);
    return new Tensor(new Float32Array(numel(shape)), shape, requiresGrad);
  }

  static ones(shape: Shape, requiresGrad = false): Tensor {
    return Tensor.full(shape, 1, requiresGrad);
  }

  static full(shape: Shape, value: number, requiresGrad = false): Tensor {
    checkShape('full', shape);
    return new Tensor(new Float32Array(numel(shape)).fill(value), shape, requiresGrad);
  }

  /** Values start, start+step, ... below end (as `torch.arange`). */
  static arange(start: number, end?: number, step = 1): Tensor {
    if (end === undefined) [start, end] = [0, start];
    if (step === 0) throw new ShapeError('arange: step must not be 0');
    const n = Math.max(0, Math.ceil((end - start) / step));
    const d = new Float32Array(n);
    for (let i = 0; i < n; i++) d[i] = start + i * step;
    return new Tensor(d, [n]);
  }

  /**
   * From nested arrays (`[[1,2],[3,4]]` is `[2,2]`), or from flat values and a shape.
   */
  static fromArray(values: NestedArray | NestedBoolArray | ArrayLike<number>, shape?: Shape, requiresGrad = false): Tensor {
    let flat: Float32Array;
    let inferred: number[];
    let bool = false;
    if (ArrayBuffer.isView(values)) {
      flat = Float32Array.from(values as ArrayLike<number>); // typed arrays are flat: 1-D unless a shape is given
      inferred = [flat.length];
    } else {
      ({ flat, shape: inferred, bool } = flattenNested(values as NestedArray | NestedBoolArray));
    }
    if (shape !== undefined) {
      checkShape('fromArray', shape);
      if (flat.length !== numel(shape)) {
        throw new ShapeError(`fromArray: ${flat.length} values cannot have shape ${fmt(shape)} (${numel(shape)} elements)`);
      }
    }
    if (bool && requiresGrad) throw new Error('fromArray: a bool tensor (from booleans) cannot require grad');
    return new Tensor(flat, shape ?? inferred, requiresGrad, null, bool ? 'bool' : 'float32');
  }

  /** Standard normal values (times `std`, plus `mean`). */
  static randn(shape: Shape, opts: RandomOptions & { mean?: number; std?: number } = {}): Tensor {
    checkShape('randn', shape);
    const g = opts.generator ?? globalGenerator();
    const { mean = 0, std = 1 } = opts;
    const d = new Float32Array(numel(shape));
    for (let i = 0; i < d.length; i++) d[i] = mean + std * g.normal();
    return new Tensor(d, shape, opts.requiresGrad ?? false);
  }

  /** Uniform values in [low, high). */
  static rand(shape: Shape, opts: RandomOptions & { low?: number; high?: number } = {}): Tensor {
    checkShape('rand', shape);
    const g = opts.generator ?? globalGenerator();
    const { low = 0, high = 1 } = opts;
    const d = new Float32Array(numel(shape));
    for (let i = 0; i < d.length; i++) d[i] = low + (high - low) * g.uniform();
    return new Tensor(d, shape, opts.requiresGrad ?? false);
  }

  /** Integers in [low, high), stored as float32 (exact below 2^24), for token ids and labels. */
  static randint(low: number, high: number, shape: Shape, opts: { generator?: Generator } = {}): Tensor {
    checkShape('randint', shape);
    if (!(high > low)) throw new ShapeError(`randint: high (${high}) must be greater than low (${low})`);
    const g = opts.generator ?? globalGenerator();
    const d = new Float32Array(numel(shape));
    for (let i = 0; i < d.length; i++) d[i] = g.int(low, high);
    return new Tensor(d, shape);
  }

  // ---- inspection ----

  get ndim(): number {
    return this.shape.length;
  }

  get size(): number {
    return this.data.length;
  }

  /** The one value of a tensor with one element. */
  item(): number {
    if (this.data.length !== 1) throw new ShapeError(`item: tensor of shape ${fmt(this.shape)} has ${this.data.length} elements, expected 1`);
    return this.data[0];
  }

  /** Nested arrays of numbers, the inverse of `fromArray`. */
  toArray(): NestedArray {
    const build = (dim: number, offset: number): NestedArray => {
      if (dim === this.shape.length) return this.data[offset];
      const stride = numel(this.shape.slice(dim + 1));
      return Array.from({ length: this.shape[dim] }, (_, i) => build(dim + 1, offset + i * stride));
    };
    return build(0, 0);
  }

  toString(): string {
    return `Tensor(${fmt(this.shape)}${this.dtype === 'bool' ? ', bool' : ''}${this.node ? `, op=${this.node.op}` : ''}${this.requiresGrad ? ', requiresGrad' : ''})`;
  }

  // ---- autograd ----

  /** The same values, cut off from the graph. Shares the data (and its version), as `torch.detach`. */
  detach(): Tensor {
    return new Tensor(this.data, this.shape, false, null, this.dtype);
  }

  /** A copy with its own data; differentiable, as `torch.clone` (use `detach().clone()` for a plain copy). */
  clone(): Tensor {
    if (this.dtype === 'bool') return new Tensor(this.data.slice(), this.shape, false, null, 'bool');
    return Tensor.fromOp('clone', this.data.slice(), this.shape, [this], (g) => [g]);
  }

  /** This tensor's values as a bool tensor (nonzero = true): a mask. */
  toBool(): Tensor {
    if (this.dtype === 'bool') return this;
    return new Tensor(this.data.map((x) => (x !== 0 ? 1 : 0)), this.shape, false, null, 'bool');
  }

  /** This tensor as float32 (a bool mask becomes 0 and 1). */
  toFloat(): Tensor {
    return this.dtype === 'float32' ? this : new Tensor(this.data, this.shape);
  }

  zeroGrad(): void {
    this.grad = null;
  }

  /** Keep `.grad` on this intermediate tensor after backward(), as PyTorch's `retain_grad()`. */
  retainGrad(): this {
    this.retainsGrad = true;
    return this;
  }

  /**
   * Back-propagates from this tensor. Without `gradient` this must be a scalar (one element), whose
   * gradient is 1. Gradients accumulate into `.grad` of leaves (call `zeroGrad` between steps). The graph
   * is freed afterwards unless `retainGraph` is set, as in PyTorch.
   */
  backward(gradient?: Tensor, opts: { retainGraph?: boolean } = {}): void {
    if (!this.requiresGrad) {
      throw new Error(
        `backward: this tensor ${fmt(this.shape)} does not require grad: no input of the ops that made it has requiresGrad (or it was made inside noGrad)`,
      );
    }
    let seed: Float32Array;
    if (gradient === undefined) {
      if (this.data.length !== 1) {
        throw new ShapeError(
          `backward: output of shape ${fmt(this.shape)} is not a scalar: reduce it first (e.g. .sum() or .mean()), or pass a gradient of the same shape`,
        );
      }
      seed = new Float32Array([1]);
    } else {
      if (gradient.data.length !== this.data.length || gradient.shape.join() !== this.shape.join()) {
        throw new ShapeError(`backward: gradient of shape ${fmt(gradient.shape)} does not match output of shape ${fmt(this.shape)}`);
      }
      seed = gradient.data;
    }

    // Reverse topological order (iterative DFS, so that deep graphs do not overflow the stack).
    const order: Tensor[] = [];
    const visited = new Set<Tensor>();
    const stack: [Tensor, number][] = [[this, 0]];
    visited.add(this);
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      const [t, i] = top;
      const parents = t.node?.parents ?? [];
      if (i < parents.length) {
        top[1]++;
        const p = parents[i];
        if (p.requiresGrad && !visited.has(p)) {
          visited.add(p);
          stack.push([p, 0]);
        }
      } else {
        stack.pop();
        order.push(t);
      }
    }

    // Gradient arrays are never written in place (backward fns may return one array for two parents, or an
    // array they were given): sums make a new array, with the backend's add kernel.
    const grads = new Map<Tensor, Float32Array>([[this, seed]]);
    for (let idx = order.length - 1; idx >= 0; idx--) {
      const t = order[idx];
      const g = grads.get(t);
      if (g === undefined) continue;
      if (t.node === null || t.retainsGrad) accumulate(t, g);
      if (t.node === null) continue;
      const node = t.node;
      if (node.backward === null) {
        throw new Error(
          `backward: the graph through '${node.op}' was freed by an earlier backward(); call the first backward with { retainGraph: true } to go through it twice`,
        );
      }
      node.parents.forEach((p, j) => {
        if (p.version !== node.versions[j]) {
          throw new Error(
            `backward: input ${j} of '${node.op}' (${fmt(p.shape)}) was modified in place after the op read it (an optimizer step or loadStateDict between forward and backward?); run backward first, or recompute the forward`,
          );
        }
      });
      const parents = node.parents;
      const parentGrads = node.backward(g);
      if (!opts.retainGraph) {
        node.backward = null;
        node.parents = []; // let the inputs (and their data) be collected while the output is kept
      }
      grads.delete(t);
      parents.forEach((p, j) => {
        const pg = parentGrads[j];
        if (!p.requiresGrad || pg === null || pg === undefined) return;
        if (pg.length !== p.data.length) {
          throw new Error(`backward: internal error in '${node.op}': gradient for parent ${j} has ${pg.length} elements, expected ${p.data.length}`);
        }
        const prev = grads.get(p);
        grads.set(p, prev === undefined ? pg : addArrays(prev, pg));
      });
    }
  }
}

/** a + b, a new array from the active backend (in its memory). */
function addArrays(a: Float32Array, b: Float32Array): Float32Array {
  const shape = [a.length];
  return backend().binary('add', a, shape, b, shape, shape);
}

function accumulate(t: Tensor, g: Float32Array): void {
  // A copy (g * 1 is exact) made by the backend: .grad is written in place by later backward() calls.
  if (t.grad === null) t.grad = new Tensor(backend().scalar('mul', g, 1, false), t.shape);
  else {
    const d = t.grad.data;
    for (let k = 0; k < d.length; k++) d[k] += g[k];
  }
}
