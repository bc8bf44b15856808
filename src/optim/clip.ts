/** Gradient clipping by global norm, as `torch.nn.utils.clip_grad_norm_`. */
import type { Tensor } from '../tensor/tensor.js';

/**
 * Scales all gradients together so that their total L2 norm (over all parameters, as if concatenated
 * into one vector) is at most `maxNorm`: each grad is multiplied by min(1, maxNorm / (norm + 1e-6)),
 * PyTorch's coefficient (the 1e-6 keeps it finite for a zero norm and leaves the clipped norm just under
 * maxNorm; it also means a norm within 1e-6 below maxNorm is scaled, by less than 1e-6 relative, as in
 * PyTorch). Parameters without a gradient are skipped. Gradients change in place.
 *
 * A non-finite norm (an inf or NaN gradient) is returned as it is and the gradients are scaled by the
 * resulting 0 or NaN coefficient, as PyTorch does by default: check the returned norm to skip such a step.
 *
 * @param params parameters whose `.grad` [shape of each parameter] is clipped
 * @param maxNorm the largest total norm allowed, >= 0
 * @returns the total norm before clipping
 */
export function clipGradNorm(params: Iterable<Tensor>, maxNorm: number): number {
  if (!(maxNorm >= 0) || !Number.isFinite(maxNorm)) throw new Error(`clipGradNorm: maxNorm = ${maxNorm} must be a finite number >= 0`);
  const grads: Float32Array[] = [];
  for (const p of params) if (p.grad !== null) grads.push(p.grad.data as Float32Array);
  // Sum of squares in float64: the float32 sum PyTorch does per tensor differs from it by ~1e-7 relative.
  let ss = 0;
  for (const g of grads) for (let i = 0; i < g.length; i++) ss += g[i] * g[i];
  const norm = Math.sqrt(ss);
  const coef = maxNorm / (norm + 1e-6);
  // PyTorch multiplies by min(coef, 1) unconditionally; multiplying by 1 changes nothing, so skip it.
  // `!(coef >= 1)` rather than `coef < 1` so that a NaN coefficient still propagates, as in PyTorch.
  if (!(coef >= 1)) for (const g of grads) for (let i = 0; i < g.length; i++) g[i] *= coef;
  return norm;
}
