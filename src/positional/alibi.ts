/**
 * ALiBi, attention with linear biases (Press, Smith and Lewis 2022, "Train Short, Test Long"): no position
 * vectors at all; each head h adds -m_h · (distance between query and key) to its attention scores before
 * the softmax, with a fixed slope m_h per head. Closer keys are penalised less, heads with small slopes
 * look far and heads with large slopes look near, and the bias is defined at any length, which is what lets
 * models extrapolate past their training context.
 */
import { Tensor } from '../tensor/tensor.js';
import { ShapeError } from '../tensor/shape.js';
import { checkAlign, checkLength, type MaskAlign } from '../attention/masks.js';

/**
 * The per-head slopes, as the paper's reference code computes them (`get_slopes` in
 * ofirpress/attention_with_linear_biases, fairseq/models/transformer.py), in float64 as its Python list:
 *
 * - n a power of 2: the geometric sequence 2^(-8/n), 2^(-16/n), ..., 2^(-8) (start = ratio = 2^(-8/n)).
 *   For n = 8: 1/2, 1/4, ..., 1/256.
 * - otherwise, with c the largest power of 2 below n: the c slopes for c heads, then every other slope of
 *   the 2c-head sequence (its 1st, 3rd, 5th, ...) for the remaining n - c heads. Those interleave between
 *   the first ones, so the slopes still spread evenly in log scale (the paper trains only powers of 2).
 *
 * The arithmetic follows the reference step by step (`start * ratio ** i`). The doubles can differ from
 * CPython's in the last few bits, because V8's `**` is not correctly rounded where glibc's pow is (V8 gives
 * 2 ** -0.5 = 0.7071067811865475, one ulp below the nearest double to 1/√2, which CPython returns), and
 * ratio ** i carries that ulp i times: measured at most ~1e-15 relative. Rounded to float32, as the bias
 * is, the slopes are the reference's.
 */
export function alibiSlopes(numHeads: number): number[] {
  if (!Number.isInteger(numHeads) || numHeads <= 0) throw new ShapeError(`alibiSlopes: numHeads must be a positive integer, got ${numHeads}`);
  const powerOf2 = (n: number): number[] => {
    const start = 2 ** -(2 ** -(Math.log2(n) - 3));
    const ratio = start;
    return Array.from({ length: n }, (_, i) => start * ratio ** i);
  };
  if (Number.isInteger(Math.log2(numHeads))) return powerOf2(numHeads);
  const closest = 2 ** Math.floor(Math.log2(numHeads));
  return [...powerOf2(closest), ...alibiSlopes(2 * closest).filter((_, i) => i % 2 === 0).slice(0, numHeads - closest)];
}

export interface AlibiBiasOptions {
  /**
   * Where the queries sit among the keys when seqQ != seqK:
   * - 'bottom-right' (default): the last query is at the last key's position, so query i is at position
   *   seqK - seqQ + i. This is decoding with a KV cache: the seqQ new tokens are the last seqQ of the
   *   seqK keys (the convention of flash-attention's causal mask for seqQ != seqK).
   * - 'top-left': query i is at position i, as the keys' first positions.
   * When seqQ = seqK both are the same. These are the causal masks' alignments (MaskAlign, see
   * attention/masks.ts), so a bias and a causal mask built with the same `align` agree.
   */
  align?: MaskAlign;
}

/**
 * The ALiBi bias: a float32 tensor [1, numHeads, seqQ, seqK] with
 *
 *     bias[0, h, i, j] = -slope_h · |pos(i) - j|,    pos(i) = seqK - seqQ + i (bottom-right) or i (top-left).
 *
 * Pass it to attention as an additive float mask (qkv's scaledDotProductAttention adds a float32 `mask` to
 * the scores; a bool mask would mean may-attend instead), together with the causal mask for a decoder:
 * the leading 1 broadcasts over the batch.
 *
 * Keys after the query (j > pos(i)) get -slope·(j - pos(i)), the symmetric extension used by bidirectional
 * encoders (MosaicBERT). Under a causal mask those entries are masked anyway, and the rest is the paper's
 * bias -m·(i - j) exactly. (The paper's fairseq code adds m·j instead, which differs from -m·(i - j) by
 * m·i, a constant in each row that the softmax cancels: the attention weights are the same.)
 *
 * Each value is computed in float64 and rounded once to float32.
 */
export function alibiBias(numHeads: number, seqQ: number, seqK: number, opts: AlibiBiasOptions = {}): Tensor {
  const { align = 'bottom-right' } = opts;
  const op = 'alibiBias';
  checkLength(op, 'seqQ', seqQ);
  checkLength(op, 'seqK', seqK);
  checkAlign(op, align);
  const slopes = alibiSlopes(numHeads);
  const shift = align === 'bottom-right' ? seqK - seqQ : 0;
  const out = new Float32Array(numHeads * seqQ * seqK);
  let k = 0;
  for (let h = 0; h < numHeads; h++) {
    for (let i = 0; i < seqQ; i++) {
      // `+ 0` turns the -0 of distance 0 into +0, so printed tables read 0 on the diagonal.
      for (let j = 0; j < seqK; j++) out[k++] = -slopes[h] * Math.abs(i + shift - j) + 0;
    }
  }
  return new Tensor(out, [1, numHeads, seqQ, seqK]);
}
