/** Picking the next token from logits: temperature, top-k, top-p (nucleus), or greedy. */
import type { Generator } from '../tensor/random.js';

export interface SamplingOptions {
  /** Divides the logits; 0 means greedy (always the most likely token). Default 1. */
  temperature?: number;
  /** Keep only the k most likely tokens (nanoGPT's top_k). Default: all. */
  topK?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p (nucleus sampling). Default 1 (all). */
  topP?: number;
}

/** Checks sampling options once, with messages that name the flag. */
export function checkSamplingOptions(o: SamplingOptions): void {
  const { temperature = 1, topK, topP = 1 } = o;
  if (typeof temperature !== 'number' || !(temperature >= 0) || !Number.isFinite(temperature)) throw new Error(`temperature must be a number >= 0 (0 = greedy), got ${temperature}`);
  if (topK !== undefined && (!Number.isInteger(topK) || topK < 1)) throw new Error(`topK must be a positive integer, got ${topK}`);
  if (typeof topP !== 'number' || !(topP > 0 && topP <= 1)) throw new Error(`topP must be a number in (0, 1], got ${topP}`);
}

/**
 * One token id from one row of logits [V]. Ties in greedy mode go to the lowest id (as argmax).
 * Draws exactly one uniform from `g` unless greedy, so a seed fixes the whole sample.
 *
 * Order as nanoGPT then Hugging Face: logits / temperature, top-k cut (ties at the k-th value are kept),
 * softmax, top-p cut (the most likely token always survives), renormalise, draw.
 */
export function sampleToken(logits: Float32Array, g: Generator, o: SamplingOptions = {}): number {
  const { temperature = 1, topK, topP = 1 } = o;
  const V = logits.length;
  for (let i = 0; i < V; i++) {
    if (Number.isNaN(logits[i])) throw new Error(`sampling: the model produced a NaN logit (token ${i}); its weights are damaged or the run diverged`);
  }
  if (temperature === 0) {
    let best = 0;
    for (let i = 1; i < V; i++) if (logits[i] > logits[best]) best = i;
    return best;
  }
  const z = new Float64Array(V);
  for (let i = 0; i < V; i++) z[i] = logits[i] / temperature;
  if (topK !== undefined && topK < V) {
    const kth = [...z].sort((a, b) => b - a)[topK - 1];
    for (let i = 0; i < V; i++) if (z[i] < kth) z[i] = -Infinity;
  }
  let max = -Infinity;
  for (let i = 0; i < V; i++) if (z[i] > max) max = z[i];
  if (max === Infinity) return sampleToken(logits, g, { temperature: 0 }); // a temperature so small that it overflows: greedy
  let total = 0;
  for (let i = 0; i < V; i++) {
    z[i] = z[i] === -Infinity ? 0 : Math.exp(z[i] - max);
    total += z[i];
  }
  for (let i = 0; i < V; i++) z[i] /= total;
  if (topP < 1) {
    const order = Array.from({ length: V }, (_, i) => i).sort((a, b) => z[b] - z[a] || a - b);
    let cum = 0;
    let keep = 0;
    while (keep < V && (keep === 0 || cum < topP)) cum += z[order[keep++]];
    for (let r = keep; r < V; r++) z[order[r]] = 0;
    for (let i = 0; i < V; i++) z[i] /= cum;
  }
  const u = g.uniform();
  let acc = 0;
  let last = 0;
  for (let i = 0; i < V; i++) {
    if (z[i] === 0) continue;
    acc += z[i];
    last = i;
    if (u < acc) return i;
  }
  return last; // rounding left acc a hair below 1
}
