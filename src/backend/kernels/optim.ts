/**
 * Optimizer kernels: one pass over a parameter's data that updates it and its state buffers in place.
 * Optional: a backend without them gets the reference loops (src/backend/reference/optim.ts).
 */

/** One AdamW step's hyperparameters, as AdamW's group holds them, and the step count t (1 on the first step). */
export interface AdamWStep {
  lr: number;
  weightDecay: number;
  beta1: number;
  beta2: number;
  eps: number;
  step: number;
  maximize: boolean;
}

export interface OptimKernels {
  /**
   * One AdamW update of p with gradient grad, in place, per element (see src/optim/adamw.ts for the
   * formula): p, the first moment m, the second moment v and, with AMSGrad (vmax not null), the running
   * maximum of v are all rewritten. m, v and vmax are float32 and the update reads them back after they
   * are stored, so the result depends only on what a state dict holds.
   */
  adamwUpdate?(p: Float32Array, grad: Float32Array, m: Float32Array, v: Float32Array, vmax: Float32Array | null, h: AdamWStep): void;
}
