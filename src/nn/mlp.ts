/** The transformer's position-wise feed-forward block: fc -> activation -> proj -> dropout (GPT-2's MLP). */
import type { Tensor } from '../tensor/tensor.js';
import type { Generator } from '../tensor/random.js';
import { fmt, ShapeError } from '../tensor/shape.js';
import { gelu, relu, silu } from '../ops/elementwise.js';
import { Linear } from './linear.js';
import { Dropout } from './dropout.js';
import { Module } from './module.js';

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

const ACTIVATIONS: Record<MLPActivation, (x: Tensor) => Tensor> = {
  gelu: (x) => gelu(x),
  gelu_tanh: (x) => gelu(x, { approximate: 'tanh' }),
  relu,
  silu,
};

export class MLP extends Module {
  /** fc: Linear(dim, hidden): weight [hidden, dim], bias [hidden]. */
  fc: Linear;
  /** proj: Linear(hidden, dim): weight [dim, hidden], bias [dim]. */
  proj: Linear;
  dropout: Dropout;
  readonly activation: MLPActivation;

  constructor(readonly dim: number, readonly hidden: number, opts: MLPOptions = {}) {
    super();
    const activation = opts.activation ?? 'gelu';
    if (!(activation in ACTIVATIONS)) {
      throw new ShapeError(`MLP: activation must be one of ${Object.keys(ACTIVATIONS).join(', ')}, got '${activation}'`);
    }
    this.activation = activation;
    const lin = { bias: opts.bias, generator: opts.generator };
    this.fc = new Linear(dim, hidden, lin);
    this.proj = new Linear(hidden, dim, lin);
    this.dropout = new Dropout(opts.dropout ?? 0, { generator: opts.generator });
  }

  /** x: [..., dim] -> [..., dim]. */
  forward(x: Tensor): Tensor {
    if (x.ndim === 0 || x.shape[x.ndim - 1] !== this.dim) {
      throw new ShapeError(`MLP(${this.dim}, ${this.hidden}): input ${fmt(x.shape)} must end in ${this.dim}`);
    }
    return this.dropout.forward(this.proj.forward(ACTIVATIONS[this.activation](this.fc.forward(x))));
  }
}
