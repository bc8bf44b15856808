/** The transformer's position-wise feed-forward block: fc -> activation -> proj -> dropout (GPT-2's MLP). */
import type { Tensor } from '../tensor/tensor.js';
import type { Generator } from '../tensor/random.js';
import { fmt, ShapeError } from '../tensor/shape.js';
import { gelu, relu, silu } from '../ops/elementwise.js';
import { Linear } from './linear.js';
import { Dropout } from './dropout.js';
import { Module, describeValue } from './module.js';

/** 'gelu' is exact (erf) GELU; 'gelu_tanh' is GPT-2's tanh approximation (`approximate='tanh'`). */
export type MLPActivation = 'gelu' | 'gelu_tanh' | 'relu' | 'silu';

export interface MLPOptions {
  /** Default 'gelu'. */
  activation?: MLPActivation;
  /** Biases in both linear layers (default true). */
  bias?: boolean;
  /** Dropout probability after proj, in [0, 1) (default 0). */
  dropout?: number;
  /** Generator for initialisation and the dropout masks (default: the global one). */
  generator?: Generator;
}

/**
 * Every named activation, shared by MLP and the transformer layers (which accept a subset). Frozen and
 * looked up with Object.hasOwn, so a name such as 'toString' is refused rather than found on the prototype.
 */
const ACTIVATIONS: Readonly<Record<MLPActivation, (x: Tensor) => Tensor>> = Object.freeze({
  gelu: (x: Tensor) => gelu(x),
  gelu_tanh: (x: Tensor) => gelu(x, { approximate: 'tanh' }),
  relu,
  silu,
});

/** The activations MLP accepts, in the order error messages list them. */
export const MLP_ACTIVATIONS: readonly MLPActivation[] = Object.freeze(['gelu', 'gelu_tanh', 'relu', 'silu']);

/**
 * Checks that `value` names one of `allowed` and returns it; `what` names the module in the error
 * (`MLP: activation must be one of gelu, gelu_tanh, relu, silu, got 'tanh'`). @internal (shared with the transformer layers)
 */
export function resolveActivation<A extends MLPActivation>(what: string, value: unknown, allowed: readonly A[]): A {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value) || !Object.hasOwn(ACTIVATIONS, value)) {
    throw new ShapeError(`${what}: activation must be one of ${allowed.join(', ')}, got ${typeof value === 'string' ? `'${value}'` : describeValue(value)}`);
  }
  return value as A;
}

/** Applies a named activation (checked by resolveActivation). @internal */
export function applyActivation(name: MLPActivation, x: Tensor): Tensor {
  return ACTIVATIONS[name](x);
}

export class MLP extends Module {
  /** fc: Linear(dim, hidden): weight [hidden, dim], bias [hidden]. */
  fc: Linear;
  /** proj: Linear(hidden, dim): weight [dim, hidden], bias [dim]. */
  proj: Linear;
  dropout: Dropout;
  readonly activation: MLPActivation;

  constructor(readonly dim: number, readonly hidden: number, opts: MLPOptions = {}) {
    super();
    for (const [name, v] of [['dim', dim], ['hidden', hidden]] as const) {
      if (!Number.isInteger(v) || v <= 0) {
        throw new ShapeError(`MLP(${dim}, ${hidden}): ${name} must be a positive integer, got ${describeValue(v)}`);
      }
    }
    this.activation = resolveActivation('MLP', opts.activation ?? 'gelu', MLP_ACTIVATIONS);
    const lin = { bias: opts.bias, generator: opts.generator };
    this.fc = new Linear(dim, hidden, lin);
    this.proj = new Linear(hidden, dim, lin);
    const p = opts.dropout ?? 0;
    if (typeof p !== 'number' || !(p >= 0 && p < 1)) throw new ShapeError(`MLP(${dim}, ${hidden}): dropout must be a probability in [0, 1), got ${describeValue(p)}`);
    this.dropout = new Dropout(p, { generator: opts.generator });
  }

  /** x: [..., dim] -> [..., dim]. */
  forward(x: Tensor): Tensor {
    if (x.ndim === 0 || x.shape[x.ndim - 1] !== this.dim) {
      throw new ShapeError(`MLP(${this.dim}, ${this.hidden}): input ${fmt(x.shape)} must end in ${this.dim}`);
    }
    return this.dropout.forward(this.proj.forward(applyActivation(this.activation, this.fc.forward(x))));
  }
}
