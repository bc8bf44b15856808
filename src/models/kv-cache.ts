/**
 * The keys and values of the tokens a decoder has already seen, per layer, so that generating one more
 * token attends to them instead of recomputing them: T tokens cost T attention steps, not T^2.
 */
import type { Tensor } from '../tensor/tensor.js';
import { concat } from '../ops/shape.js';

export class KVCache {
  /** Per layer: k [batch, kvHeads, length, headDim] and v the same, or null before the first token. */
  private readonly keys: (Tensor | null)[];
  private readonly values: (Tensor | null)[];
  /** Tokens held (the position of the next token). */
  length = 0;

  constructor(readonly nLayer: number) {
    this.keys = Array.from({ length: nLayer }, () => null);
    this.values = Array.from({ length: nLayer }, () => null);
  }

  /**
   * Appends this step's k, v ([batch, kvHeads, newTokens, headDim]) for `layer` and returns all of them:
   * [batch, kvHeads, length + newTokens, headDim]. `length` advances when the last layer is appended.
   */
  append(layer: number, k: Tensor, v: Tensor): { k: Tensor; v: Tensor } {
    const pk = this.keys[layer];
    const pv = this.values[layer];
    const allK = pk === null ? k : concat([pk, k], 2);
    const allV = pv === null ? v : concat([pv, v], 2);
    this.keys[layer] = allK.detach();
    this.values[layer] = allV.detach();
    if (layer === this.nLayer - 1) this.length = allK.shape[2];
    return { k: allK, v: allV };
  }

  /** Forgets everything (a new prompt). */
  clear(): void {
    this.keys.fill(null);
    this.values.fill(null);
    this.length = 0;
  }
}
