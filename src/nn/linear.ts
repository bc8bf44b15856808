/** y = x W^T + b, as `torch.nn.Linear`. */
import { Tensor } from '../tensor/tensor.js';
import type { Generator } from '../tensor/random.js';
import { fmt, ShapeError } from '../tensor/shape.js';
import { matmul } from '../ops/matmul.js';
import { add } from '../ops/elementwise.js';
import { Module, describeValue } from './module.js';

export interface LinearOptions {
  /** Add a bias (default true). */
  bias?: boolean;
  /** Generator for initialisation (default: the global one). */
  generator?: Generator;
}

export class Linear extends Module {
  /** weight: [outFeatures, inFeatures] (PyTorch's layout, so state dicts load as they are). */
  weight: Tensor;
  /** bias: [outFeatures], or null. */
  bias: Tensor | null;

  /** Initialised as PyTorch: U(-1/sqrt(in), 1/sqrt(in)) for weight and bias. */
  constructor(readonly inFeatures: number, readonly outFeatures: number, opts: LinearOptions = {}) {
    super();
    for (const [name, v] of [['inFeatures', inFeatures], ['outFeatures', outFeatures]] as const) {
      if (!Number.isInteger(v) || v <= 0) {
        throw new ShapeError(`Linear(${inFeatures}, ${outFeatures}): ${name} must be a positive integer, got ${describeValue(v)}`);
      }
    }
    const bound = 1 / Math.sqrt(inFeatures);
    const g = opts.generator;
    this.weight = Tensor.rand([outFeatures, inFeatures], { low: -bound, high: bound, generator: g, requiresGrad: true });
    this.bias = opts.bias === false ? null : Tensor.rand([outFeatures], { low: -bound, high: bound, generator: g, requiresGrad: true });
  }

  /** x: [..., inFeatures] -> [..., outFeatures]. */
  forward(x: Tensor): Tensor {
    if (x.shape[x.ndim - 1] !== this.inFeatures) {
      throw new ShapeError(`Linear(${this.inFeatures}, ${this.outFeatures}): input ${fmt(x.shape)} must end in ${this.inFeatures}`);
    }
    const y = matmul(x, this.weight, { transB: true });
    return this.bias ? add(y, this.bias) : y;
  }
}
