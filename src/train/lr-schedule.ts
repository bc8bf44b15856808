/** nanoGPT's learning-rate schedule: linear warm-up, then cosine decay to a floor. */

export interface LrSchedule {
  /** Peak learning rate, reached at the end of warm-up. */
  learningRate: number;
  /** Steps of linear warm-up. */
  warmupIters: number;
  /** Step at which the cosine reaches minLr (nanoGPT sets it to maxIters). */
  lrDecayIters: number;
  /** The floor (nanoGPT: learningRate / 10). */
  minLr: number;
  /** false: a constant learningRate (nanoGPT's decay_lr = False). */
  decayLr: boolean;
}

/**
 * The learning rate of step `it` (0-based), exactly nanoGPT's get_lr:
 * - it < warmupIters: learningRate * (it + 1) / (warmupIters + 1);
 * - it > lrDecayIters: minLr;
 * - otherwise minLr + 0.5 * (1 + cos(pi * r)) * (learningRate - minLr), r = (it - warmupIters) / (lrDecayIters - warmupIters).
 */
export function learningRateAt(it: number, s: LrSchedule): number {
  if (!s.decayLr) return s.learningRate;
  if (it < s.warmupIters) return (s.learningRate * (it + 1)) / (s.warmupIters + 1);
  if (it > s.lrDecayIters) return s.minLr;
  const span = s.lrDecayIters - s.warmupIters;
  const ratio = span > 0 ? (it - s.warmupIters) / span : 1;
  const coeff = 0.5 * (1 + Math.cos(Math.PI * ratio));
  return s.minLr + coeff * (s.learningRate - s.minLr);
}
