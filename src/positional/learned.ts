/**
 * Learned absolute position embeddings, as GPT-2's `wpe` and BERT's `position_embeddings`: one trained
 * vector per position up to a fixed maximum length, added to the token embeddings.
 */
import { Tensor } from '../tensor/tensor.js';
import type { Generator } from '../tensor/random.js';
import { fmt, ShapeError } from '../tensor/shape.js';
import { add } from '../ops/elementwise.js';
import { slice } from '../ops/shape.js';
import { Module } from '../nn/module.js';

export interface LearnedPositionalEmbeddingOptions {
  /** Generator for initialisation (default: the global one). */
  generator?: Generator;
  /**
   * Standard deviation of the N(0, std²) initialisation (default 0.02, GPT-2's and BERT's
   * initializer_range, as nanoGPT and Hugging Face use: position vectors start small next to the
   * token embeddings, rather than nn.Embedding's N(0, 1)).
   */
  std?: number;
}

export class LearnedPositionalEmbedding extends Module {
  /** weight: [maxLen, dim], row p = the vector of position p (nn.Embedding's layout and name, so GPT-2's `wpe.weight` loads as it is). */
  weight: Tensor;

  constructor(readonly maxLen: number, readonly dim: number, opts: LearnedPositionalEmbeddingOptions = {}) {
    super();
    for (const [name, v] of [['maxLen', maxLen], ['dim', dim]] as const) {
      if (!Number.isInteger(v) || v <= 0) throw new ShapeError(`LearnedPositionalEmbedding: ${name} must be a positive integer, got ${v}`);
    }
    const std = opts.std ?? 0.02;
    this.weight = Tensor.randn([maxLen, dim], { generator: opts.generator, std, requiresGrad: true });
  }

  /**
   * x: [batch, seq, dim] (any leading axes: [..., seq, dim]) -> x + weight[offset .. offset+seq-1].
   * `offset` is the position of x's first row (the tokens already in the KV cache when decoding).
   * The gradient of `weight` is the sum of the output gradient over the batch, in rows offset..offset+seq-1.
   */
  forward(x: Tensor, offset = 0): Tensor {
    const name = `LearnedPositionalEmbedding(${this.maxLen}, ${this.dim})`;
    if (x.ndim < 2 || x.shape[x.ndim - 1] !== this.dim) {
      throw new ShapeError(`${name}: input ${fmt(x.shape)} must be [..., seq, ${this.dim}]`);
    }
    if (!Number.isInteger(offset) || offset < 0) throw new ShapeError(`${name}: offset must be a non-negative integer, got ${offset}`);
    const seq = x.shape[x.ndim - 2];
    if (offset + seq > this.maxLen) {
      // The usual cause is a prompt plus generated tokens outgrowing the context the model was trained
      // for: a learned table has no vector for those positions (crop the context, as GPT-2's sampler does).
      throw new ShapeError(
        `${name}: positions ${offset}..${offset + seq - 1} (offset ${offset} + seq ${seq} = ${offset + seq}) exceed maxLen ${this.maxLen}`,
      );
    }
    return add(x, slice(this.weight, 0, offset, offset + seq));
  }
}
