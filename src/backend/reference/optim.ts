/** Reference optimizer kernels: per element in float64, state stored as float32 (see ../kernels/optim.ts). */
import type { OptimKernels } from '../kernels/optim.js';

export const optim: Required<OptimKernels> = {
  adamwUpdate(pd, grad, m, v, vmax, h) {
    const { lr, weightDecay: wd, beta1, beta2, eps, step, maximize } = h;
    // Scalars in float64, as PyTorch computes them in Python.
    const decay = 1 - lr * wd;
    const stepSize = lr / (1 - beta1 ** step);
    const bc2Sqrt = Math.sqrt(1 - beta2 ** step);
    for (let i = 0; i < pd.length; i++) {
      const g = maximize ? -grad[i] : grad[i];
      // m, v (and vmax) are stored as float32 and read back, as PyTorch's state, so that the update
      // depends only on what a state dict holds: a resumed run continues bit for bit.
      m[i] = beta1 * m[i] + (1 - beta1) * g;
      v[i] = beta2 * v[i] + (1 - beta2) * g * g;
      let vi = v[i];
      if (vmax !== null) vi = vmax[i] = Math.max(vmax[i], vi); // Math.max keeps NaN, as torch.maximum
      pd[i] = pd[i] * decay - (stepSize * m[i]) / (Math.sqrt(vi) / bc2Sqrt + eps);
    }
  },
};
