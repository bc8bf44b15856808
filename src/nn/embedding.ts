/** A lookup table of learned vectors, as `torch.nn.Embedding`: token ids -> embeddings. */
import { Tensor } from '../tensor/tensor.js';
import type { Generator } from '../tensor/random.js';
import { fmt, ShapeError } from '../tensor/shape.js';
import { embedding } from '../ops/nn.js';
import { Module } from './module.js';

export interface EmbeddingOptions {
  /** Generator for initialisation (default: the global one). */
  generator?: Generator;
}

export class Embedding extends Module {
  /** weight: [numEmbeddings, dim], one row per id (PyTorch's layout and name). */
  weight: Tensor;

  /** Initialised as PyTorch: N(0, 1) for every entry. */
  constructor(readonly numEmbeddings: number, readonly dim: number, opts: EmbeddingOptions = {}) {
    super();
    for (const [name, v] of [['numEmbeddings', numEmbeddings], ['dim', dim]] as const) {
      if (!Number.isInteger(v) || v <= 0) throw new ShapeError(`Embedding: ${name} must be a positive integer, got ${v}`);
    }
    this.weight = Tensor.randn([numEmbeddings, dim], { generator: opts.generator, requiresGrad: true });
  }

  /**
   * ids: [...] integer ids in [0, numEmbeddings) (stored as float32) -> [..., dim].
   * The gradient scatter-adds into the rows of `weight` that were picked (a repeated id sums).
   */
  forward(ids: Tensor): Tensor {
    // Checked here rather than only in the op so that the message names this module and its sizes:
    // an out-of-range id usually means a tokenizer and a model that disagree on the vocabulary.
    const d = ids.data;
    for (let i = 0; i < d.length; i++) {
      const v = d[i];
      if (!Number.isInteger(v) || v < 0 || v >= this.numEmbeddings) {
        throw new ShapeError(
          `Embedding(${this.numEmbeddings}, ${this.dim}): ids ${fmt(ids.shape)} hold ${v} at flat index ${i}; ids must be integers in [0, ${this.numEmbeddings})`,
        );
      }
    }
    return embedding(ids, this.weight);
  }
}
