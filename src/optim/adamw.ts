/** Adam with decoupled weight decay, as `torch.optim.AdamW` (Loshchilov & Hutter). */
import { Tensor } from '../tensor/tensor.js';
import { backend } from '../backend/backend.js';
import { optim } from '../backend/reference/optim.js';
import { Optimizer, check, checkBool, zerosLike, type GroupOptions, type Params, type StateSpec } from './optimizer.js';

export interface AdamWOptions extends GroupOptions {
  /** Decay rates of the first and second moment averages (default [0.9, 0.999]). */
  betas: [number, number];
  /** Added to the denominator, outside the square root (default 1e-8). */
  eps: number;
  /** Use the running maximum of the second moment (AMSGrad) (default false). */
  amsgrad: boolean;
  /** Maximise the objective instead (default false). */
  maximize: boolean;
}

/**
 * AdamW with exactly PyTorch's update, per parameter p with gradient g at step t (counted per parameter):
 *
 *     p = p * (1 - lr * weightDecay)                  (decoupled: not part of g, not in the moments)
 *     m = beta1 * m + (1 - beta1) * g
 *     v = beta2 * v + (1 - beta2) * g^2
 *     vmax = max(vmax, v)                             (amsgrad only; then v below is vmax)
 *     p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
 *
 * Defaults as PyTorch: lr 1e-3, betas [0.9, 0.999], eps 1e-8, weightDecay 1e-2. For nanoGPT's setup
 * (decay on matrices only) pass `weightDecayGroups(model.parameters(), 0.1)` as params.
 * State per parameter: `step`, `expAvg`, `expAvgSq` and (amsgrad) `maxExpAvgSq`, each of p's shape.
 * The per-element loop is the backend's `adamwUpdate` kernel: float64 per element on the reference backend,
 * float32 on the wasm backend (a few ulps from it per step, as PyTorch's own float32 AdamW).
 */
export class AdamW extends Optimizer<AdamWOptions> {
  /** An option not listed in AdamWOptions is an error (`weight_decay` -> did you mean `weightDecay`?). */
  constructor(params: Params<AdamWOptions>, opts: Partial<AdamWOptions> = {}) {
    super('AdamW', params, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2, amsgrad: false, maximize: false }, opts);
  }

  protected override validate(g: AdamWOptions, where: string): void {
    super.validate(g, where);
    if (!Array.isArray(g.betas) || g.betas.length !== 2) {
      throw new Error(`${where}: betas must be [beta1, beta2], got ${Array.isArray(g.betas) ? JSON.stringify(g.betas) : typeof g.betas === 'string' ? `string '${g.betas}'` : String(g.betas)}`);
    }
    check(where, 'betas[0]', g.betas[0], g.betas[0] >= 0 && g.betas[0] < 1, 'not in [0, 1)');
    check(where, 'betas[1]', g.betas[1], g.betas[1] >= 0 && g.betas[1] < 1, 'not in [0, 1)');
    check(where, 'eps', g.eps, g.eps >= 0);
    checkBool(where, 'amsgrad', g.amsgrad);
    checkBool(where, 'maximize', g.maximize);
  }

  /** step, expAvg and expAvgSq always; maxExpAvgSq once a step ran with amsgrad. */
  protected override stateSpec(): StateSpec {
    return { tensors: ['expAvg', 'expAvgSq'], optionalTensors: ['maxExpAvgSq'], counters: ['step'] };
  }

  override step(): void {
    this.checkGroups();
    const k = backend();
    const update = k.adamwUpdate === undefined ? optim.adamwUpdate : k.adamwUpdate.bind(k);
    for (const group of this.paramGroups) {
      const { lr, weightDecay: wd, eps, amsgrad, maximize } = group;
      const [beta1, beta2] = group.betas;
      for (const p of group.params) {
        const grad = this.gradOf(p);
        if (grad === null) continue;
        let s = this.state.get(p);
        if (s === undefined) this.state.set(p, (s = { step: 0, expAvg: zerosLike(p), expAvgSq: zerosLike(p) }));
        // Made on first use rather than only at the start, so that amsgrad can be switched on mid-run.
        if (amsgrad && !(s.maxExpAvgSq instanceof Tensor)) s.maxExpAvgSq = zerosLike(p);
        const step = (s.step as number) + 1;
        s.step = step;
        const m = (s.expAvg as Tensor).data as Float32Array;
        const v = (s.expAvgSq as Tensor).data as Float32Array;
        const vmax = amsgrad ? ((s.maxExpAvgSq as Tensor).data as Float32Array) : null;
        // One pass over p, m, v (and vmax) in the backend's kernel (the reference loop in src/backend/reference/optim.ts).
        update(p.data as Float32Array, grad, m, v, vmax, { lr, weightDecay: wd, beta1, beta2, eps, step, maximize });
        p.markModified();
      }
    }
  }
}
