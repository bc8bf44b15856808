/** Stochastic gradient descent with momentum, as `torch.optim.SGD`. */
import { Tensor } from '../tensor/tensor.js';
import { Optimizer, check, checkBool, zerosLike, type GroupOptions, type Params, type StateSpec } from './optimizer.js';

export interface SGDOptions extends GroupOptions {
  /** Momentum factor (default 0: plain SGD). */
  momentum: number;
  /** Dampening of the gradient added to the momentum buffer (default 0). */
  dampening: number;
  /** Nesterov momentum (default false; needs momentum > 0 and dampening 0). */
  nesterov: boolean;
  /** Maximise the objective instead (default false). */
  maximize: boolean;
}

/**
 * SGD with exactly PyTorch's update, per parameter p with gradient g:
 *
 *     d = g + weightDecay * p                       (L2 penalty, coupled: it goes through momentum)
 *     buf = d  on the first step, else  buf = momentum * buf + (1 - dampening) * d
 *     d = nesterov ? d + momentum * buf : buf       (when momentum != 0)
 *     p = p - lr * d
 *
 * State per parameter: `momentumBuffer` (shape of p), only when momentum != 0.
 */
export class SGD extends Optimizer<SGDOptions> {
  /**
   * `lr` is required, as in PyTorch 1.x (every group must end up with one); the rest default to 0 / false.
   * An option not listed in SGDOptions is an error (`weight_decay` -> did you mean `weightDecay`?).
   */
  constructor(params: Params<SGDOptions>, opts: Partial<SGDOptions> & { lr: number }) {
    // lr has no default: undefined here fails validation (`lr must be a number, got undefined`) unless a group sets it.
    super('SGD', params, { lr: undefined as unknown as number, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, maximize: false }, opts);
  }

  protected override validate(g: SGDOptions, where: string): void {
    super.validate(g, where);
    check(where, 'momentum', g.momentum, g.momentum >= 0);
    check(where, 'dampening', g.dampening, true);
    checkBool(where, 'nesterov', g.nesterov);
    checkBool(where, 'maximize', g.maximize);
    if (g.nesterov && (g.momentum <= 0 || g.dampening !== 0)) {
      throw new Error(`${where}: nesterov needs momentum > 0 and dampening = 0 (got momentum ${g.momentum}, dampening ${g.dampening})`);
    }
  }

  /** One buffer per parameter (created on its first step with momentum != 0). */
  protected override stateSpec(): StateSpec {
    return { tensors: ['momentumBuffer'] };
  }

  override step(): void {
    this.checkGroups();
    for (const group of this.paramGroups) {
      const { lr, weightDecay: wd, momentum, dampening, nesterov, maximize } = group;
      for (const p of group.params) {
        const grad = this.gradOf(p);
        if (grad === null) continue;
        const pd = p.data as Float32Array;
        let buf: Float32Array | null = null;
        let first = false;
        if (momentum !== 0) {
          let s = this.state.get(p);
          if (s === undefined) this.state.set(p, (s = {}));
          if (!(s.momentumBuffer instanceof Tensor)) {
            s.momentumBuffer = zerosLike(p);
            first = true; // PyTorch starts the buffer at d itself, not at (1 - dampening) * d
          }
          buf = (s.momentumBuffer as Tensor).data as Float32Array;
        }
        for (let i = 0; i < pd.length; i++) {
          let d = maximize ? -grad[i] : grad[i];
          if (wd !== 0) d += wd * pd[i];
          if (buf !== null) {
            // The buffer is stored as float32 (as PyTorch's) and read back, so that a resumed run
            // sees exactly the value this one continues with.
            buf[i] = first ? d : momentum * buf[i] + (1 - dampening) * d;
            d = nesterov ? d + momentum * buf[i] : buf[i];
          }
          pd[i] = pd[i] - lr * d;
        }
        p.markModified();
      }
    }
  }
}
