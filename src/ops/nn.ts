/** Neural-network functions: softmax, norms, embedding, dropout, cross-entropy. (Stubs: filled in by the nn-ops work.) */
import { Tensor } from '../tensor/tensor.js';
import type { Generator } from '../tensor/random.js';

const todo = (name: string): never => {
  throw new Error(`${name}: not written yet`);
};

/** softmax along `axis` (default last). */
export function softmax(x: Tensor, axis = -1): Tensor { return todo('softmax'); }
/** log(softmax(x)) along `axis` (default last), computed stably. */
export function logSoftmax(x: Tensor, axis = -1): Tensor { return todo('logSoftmax'); }
/** Layer norm over the last axis: x: [..., d], weight, bias: [d] or null. Biased variance, as PyTorch. */
export function layerNorm(x: Tensor, weight: Tensor | null, bias: Tensor | null, eps = 1e-5): Tensor { return todo('layerNorm'); }
/** RMS norm over the last axis: x / sqrt(mean(x^2) + eps) * weight. */
export function rmsNorm(x: Tensor, weight: Tensor | null, eps = 1e-6): Tensor { return todo('rmsNorm'); }
/** Rows of `weight` [vocab, dim] picked by integer `ids` [...]: result [..., dim]. Gradient scatter-adds into weight. */
export function embedding(ids: Tensor, weight: Tensor): Tensor { return todo('embedding'); }
/** Inverted dropout: zero with probability p, scale the rest by 1/(1-p); identity when not training or p = 0. */
export function dropout(x: Tensor, p: number, opts: { training?: boolean; generator?: Generator } = {}): Tensor { return todo('dropout'); }
export interface CrossEntropyOptions {
  /** Targets with this value contribute nothing (default -100, as PyTorch). */
  ignoreIndex?: number;
  /** 'mean' over non-ignored targets (default), 'sum', or 'none' (per target). */
  reduction?: 'mean' | 'sum' | 'none';
  /** Label smoothing epsilon in [0, 1), as PyTorch's label_smoothing. */
  labelSmoothing?: number;
}
/** Cross-entropy from logits [N, C] (or [..., C]) and integer targets [N] (or [...]), as `F.cross_entropy`. */
export function crossEntropy(logits: Tensor, targets: Tensor, opts: CrossEntropyOptions = {}): Tensor { return todo('crossEntropy'); }
