/** RMS normalisation over the last axis (LLaMA's), as `torch.nn.RMSNorm(dim, eps)` in newer PyTorch. */
import { Tensor } from '../tensor/tensor.js';
import { fmt, ShapeError } from '../tensor/shape.js';
import { rmsNorm } from '../ops/nn.js';
import { Module, describeValue } from './module.js';

export interface RMSNormOptions {
  /** Added to mean(x^2) before the square root (default 1e-6, LLaMA's). */
  eps?: number;
}

export class RMSNorm extends Module {
  /** weight: [dim], initialised to ones. */
  weight: Tensor;
  readonly eps: number;

  constructor(readonly dim: number, opts: RMSNormOptions = {}) {
    super();
    if (!Number.isInteger(dim) || dim <= 0) throw new ShapeError(`RMSNorm: dim must be a positive integer, got ${dim}`);
    const eps = opts.eps ?? 1e-6;
    // 0 is allowed, as PyTorch; a negative or non-finite eps would give NaN or a wrong scale silently.
    if (typeof eps !== 'number' || !(eps >= 0) || !Number.isFinite(eps)) throw new ShapeError(`RMSNorm(${dim}): eps must be a finite number >= 0, got ${describeValue(eps)}`);
    this.eps = eps;
    this.weight = Tensor.ones([dim], true);
  }

  /** x: [..., dim] -> [..., dim]: x / sqrt(mean(x^2) + eps) * weight, the mean over the last axis. */
  forward(x: Tensor): Tensor {
    if (x.ndim === 0 || x.shape[x.ndim - 1] !== this.dim) {
      throw new ShapeError(`RMSNorm(${this.dim}): input ${fmt(x.shape)} must end in ${this.dim}`);
    }
    return rmsNorm(x, this.weight, this.eps);
  }
}
