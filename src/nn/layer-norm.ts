/** Layer normalisation over the last axis, as `torch.nn.LayerNorm(dim)`. */
import { Tensor } from '../tensor/tensor.js';
import { fmt, ShapeError } from '../tensor/shape.js';
import { layerNorm } from '../ops/nn.js';
import { Module, describeValue } from './module.js';

export interface LayerNormOptions {
  /** Added to the variance before the square root (default 1e-5, as PyTorch). */
  eps?: number;
  /** Learn a per-feature scale (and bias) (default true). Without it there are no parameters. */
  elementwiseAffine?: boolean;
  /** Learn a bias too (default true; ignored without elementwiseAffine). GPT-2 has one; many newer models do not. */
  bias?: boolean;
}

export class LayerNorm extends Module {
  /** weight: [dim], initialised to ones; null without elementwiseAffine. */
  weight: Tensor | null;
  /** bias: [dim], initialised to zeros; null without elementwiseAffine or with bias: false. */
  bias: Tensor | null;
  readonly eps: number;

  constructor(readonly dim: number, opts: LayerNormOptions = {}) {
    super();
    if (!Number.isInteger(dim) || dim <= 0) throw new ShapeError(`LayerNorm: dim must be a positive integer, got ${dim}`);
    const eps = opts.eps ?? 1e-5;
    // 0 is allowed, as PyTorch; a negative or non-finite eps would give NaN or a wrong scale silently.
    if (typeof eps !== 'number' || !(eps >= 0) || !Number.isFinite(eps)) throw new ShapeError(`LayerNorm(${dim}): eps must be a finite number >= 0, got ${describeValue(eps)}`);
    this.eps = eps;
    const affine = opts.elementwiseAffine ?? true;
    this.weight = affine ? Tensor.ones([dim], true) : null;
    this.bias = affine && opts.bias !== false ? Tensor.zeros([dim], true) : null;
  }

  /** x: [..., dim] -> [..., dim]: (x - mean) / sqrt(var + eps) * weight + bias, biased variance over the last axis. */
  forward(x: Tensor): Tensor {
    if (x.ndim === 0 || x.shape[x.ndim - 1] !== this.dim) {
      throw new ShapeError(`LayerNorm(${this.dim}): input ${fmt(x.shape)} must end in ${this.dim}`);
    }
    return layerNorm(x, this.weight, this.bias, this.eps);
  }
}
