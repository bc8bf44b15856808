/** Inverted dropout as a module, as `torch.nn.Dropout(p)`: active only in training mode. */
import type { Tensor } from '../tensor/tensor.js';
import type { Generator } from '../tensor/random.js';
import { ShapeError } from '../tensor/shape.js';
import { dropout } from '../ops/nn.js';
import { Module, describeValue } from './module.js';

export interface DropoutOptions {
  /** Generator for the masks (default: the global one); give one to make a training run reproducible. */
  generator?: Generator;
}

export class Dropout extends Module {
  /** Not state (a Generator is neither a Tensor nor a Module), so it is not saved in stateDict. */
  readonly generator: Generator | undefined;

  /** p: probability of zeroing each element, in [0, 1). */
  constructor(readonly p: number, opts: DropoutOptions = {}) {
    super();
    // p = 1 would scale the survivors by 1/(1-p) = inf; PyTorch returns zeros there, but a model that
    // drops everything is a mistake, so it is refused here rather than given a special case.
    if (typeof p !== 'number' || !(p >= 0 && p < 1)) {
      throw new ShapeError(`Dropout: p must be in [0, 1), got ${describeValue(p)}`);
    }
    this.generator = opts.generator;
  }

  /**
   * x: [...] -> [...]. In training mode each element is zeroed with probability p and the rest are
   * scaled by 1/(1-p), so the expected value is unchanged; in eval mode (or p = 0) x itself is returned.
   */
  forward(x: Tensor): Tensor {
    if (!this.training || this.p === 0) return x;
    return dropout(x, this.p, { training: true, generator: this.generator });
  }
}
