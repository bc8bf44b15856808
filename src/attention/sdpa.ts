/**
 * Scaled dot-product attention:
 *
 *     weights = softmax(q kᵀ · scale + additive mask, masked to -inf where not allowed)
 *     output  = dropout(weights) v
 *
 * Two implementations, which agree to float32 rounding (test/fused-attention.test.ts):
 *
 * - fused (the default where it applies): one op whose forward and backward are the backend's fused
 *   attention kernels (FlashAttention-2: the forward saves only each query row's log-sum-exp, the backward
 *   recomputes the probabilities from it), so no [seqQ, seqK] array is kept between forward and backward.
 *   It takes causal, window and a bool mask, not dropout or a float mask.
 * - composed: written from differentiable ops only (matmul with transB, add, maskedFill with -Infinity,
 *   softmax, dropout, matmul), so its backward is the composition of theirs and needs no derivation of its
 *   own. It is the specification the fused op is tested against, so clarity wins over speed. It is used
 *   for dropout > 0, a float (additive) mask, and for weights that need a gradient.
 *
 * Masks use qkv's one convention, true = may attend (see masks.ts, which also explains causal alignment).
 */
import '../ops/methods.js';
import { Tensor, isGradEnabled } from '../tensor/tensor.js';
import { backend } from '../backend/backend.js';
import type { AttentionParams } from '../backend/kernels/attention.js';
import type { Generator } from '../tensor/random.js';
import { fmt, ShapeError } from '../tensor/shape.js';
import { matmul } from '../ops/matmul.js';
import { softmax, dropout as dropoutOp } from '../ops/nn.js';
import { causalMask, slidingWindowMask, combineMasks, invertMask, type MaskAlign } from './masks.js';

export interface AttentionOptions {
  /**
   * Causal masking: query at aligned position p attends keys j <= p.
   * `'bottom-right'` (the last query sees every key: KV-cache decoding, FlashAttention) or `'top-left'`
   * (query i sees keys 0..i: PyTorch's `is_causal`). `true` is allowed only when seqQ == seqK, where the
   * two agree; otherwise it throws and asks which one is meant. Default false.
   */
  causal?: boolean | MaskAlign;
  /**
   * A mask broadcastable to [batch, heads, seqQ, seqK]:
   * - dtype 'bool': true = may attend (false positions get weight exactly 0);
   * - dtype 'float32': added to the scores before softmax, as PyTorch's float `attn_mask` (an ALiBi or
   *   relative-position bias; -Infinity blocks). It receives a gradient if it requires one.
   */
  mask?: Tensor | null;
  /** Multiplies q kᵀ; default 1 / sqrt(headDim). */
  scale?: number;
  /** Dropout probability on the weights, in [0, 1); applied only when > 0 (callers pass 0 in eval mode). */
  dropout?: number;
  /** Generator for dropout (default: the global one). */
  generator?: Generator;
  /**
   * Sliding window of `window` keys (a positive integer).
   * - with `causal`: query at aligned position p attends only keys p - window < j <= p (itself and the
   *   window - 1 keys before it), as Mistral; the alignment is the causal one.
   * - without `causal`: a symmetric band |j - p| < window (2 * window - 1 keys centred on the query, as
   *   Longformer's local attention). Needs seqQ == seqK (p = i); for other lengths pass
   *   `mask: slidingWindowMask(seqQ, seqK, window, align, { causal: false })` to name the alignment.
   */
  window?: number;
  /** Also return the attention weights [batch, heads, seqQ, seqK]. */
  returnWeights?: boolean;
  /**
   * Which implementation computes it (see the module comment); both give the same values to float32
   * rounding. Default: `'fused'` where it applies, else `'composed'`.
   * - `'fused'`: the backend's fused attention kernels; keeps no [seqQ, seqK] array for the backward.
   *   Throws if it cannot apply: dropout > 0, a float32 (additive) mask, or `returnWeights` while an input
   *   requires grad (grad enabled), since the fused op's weights carry no gradient.
   * - `'composed'`: differentiable ops (matmul, softmax, ...), the reference the fused op is tested against.
   */
  impl?: 'fused' | 'composed';
}

export interface AttentionResult {
  /** [batch, heads, seqQ, headDimV] */
  output: Tensor;
  /**
   * [batch, heads, seqQ, seqK]: the softmax probabilities, *before* dropout (PyTorch's MultiheadAttention
   * returns them after dropout). Each row sums to 1, or is all zeros where every key was masked.
   */
  weights: Tensor;
}

/**
 * Scaled dot-product attention with grouped-query heads, masks, sliding window and dropout.
 *
 * - q: [batch, heads, seqQ, headDim]
 * - k: [batch, kvHeads, seqK, headDim]
 * - v: [batch, kvHeads, seqK, headDimV] (headDimV may differ from headDim)
 * - returns output [batch, heads, seqQ, headDimV], or `{ output, weights }` with `returnWeights`.
 *
 * Grouped-query attention: when kvHeads divides heads, query head h uses kv head floor(h / (heads / kvHeads))
 * (consecutive query heads share a kv head, as `repeat_interleave` in Llama and PyTorch's `enable_gqa`);
 * kvHeads = 1 is multi-query attention. k and v are broadcast, never copied.
 *
 * Masks compose: a key is attended only if causal AND window AND a bool `mask` all allow it; a float
 * `mask` is added to the scores first.
 *
 * A query row whose keys are all masked gets output zeros and zero gradients (PyTorch gives NaN there):
 * this happens to padded queries, and to the first seqQ - seqK queries of a bottom-right causal mask.
 */
export function scaledDotProductAttention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions & { returnWeights: true }): AttentionResult;
export function scaledDotProductAttention(q: Tensor, k: Tensor, v: Tensor, opts?: AttentionOptions & { returnWeights?: false }): Tensor;
export function scaledDotProductAttention(q: Tensor, k: Tensor, v: Tensor, opts?: AttentionOptions): Tensor | AttentionResult;
export function scaledDotProductAttention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions = {}): Tensor | AttentionResult {
  const op = 'scaledDotProductAttention';
  const shapes = `q ${fmt(q.shape)}, k ${fmt(k.shape)}, v ${fmt(v.shape)}`;
  for (const [name, t, last] of [['q', q, 'headDim'], ['k', k, 'headDim'], ['v', v, 'headDimV']] as const) {
    if (t.ndim !== 4) {
      const heads = name === 'q' ? 'heads, seqQ' : 'kvHeads, seqK';
      throw new ShapeError(`${op}: ${name} must be 4-D [batch, ${heads}, ${last}], got ${fmt(t.shape)} (${shapes})`);
    }
    if (t.dtype !== 'float32') throw new ShapeError(`${op}: ${name} must be float32, got a bool tensor ${fmt(t.shape)}`);
  }
  const [batch, heads, seqQ, headDim] = q.shape;
  const [kb, kvHeads, seqK, kDim] = k.shape;
  const [vb, vHeads, vSeq, headDimV] = v.shape;
  if (kb !== batch || vb !== batch) throw new ShapeError(`${op}: batch sizes differ: q ${batch}, k ${kb}, v ${vb} (${shapes})`);
  if (vHeads !== kvHeads || vSeq !== seqK) {
    throw new ShapeError(`${op}: k and v must have the same kvHeads and seqK: k [${kb},${kvHeads},${seqK},·] vs v [${vb},${vHeads},${vSeq},·] (${shapes})`);
  }
  if (kDim !== headDim) throw new ShapeError(`${op}: q and k must have the same headDim: q ${headDim}, k ${kDim} (${shapes})`);
  if (kvHeads === 0 || heads % kvHeads !== 0) {
    throw new ShapeError(
      `${op}: q has ${heads} heads but k and v have ${kvHeads}: kvHeads must divide heads (grouped-query attention; kvHeads = 1 is multi-query) (${shapes})`,
    );
  }

  const scale = opts.scale ?? 1 / Math.sqrt(headDim);
  if (!Number.isFinite(scale)) throw new ShapeError(`${op}: scale must be a finite number, got ${scale}`);
  const p = opts.dropout ?? 0;
  if (!(p >= 0 && p < 1)) throw new ShapeError(`${op}: dropout must be a probability in [0, 1), got ${p}`);

  // ---- which keys each query may attend: causal AND window AND bool mask ----
  const scoresShape = [batch, heads, seqQ, seqK];
  const align = causalAlign(op, opts.causal ?? false, seqQ, seqK);
  let window: number | null = null;
  if (opts.window !== undefined) {
    const w = opts.window;
    if (!Number.isInteger(w) || w < 1) throw new ShapeError(`${op}: window must be a positive integer (keys per query), got ${w}`);
    if (align === null && seqQ !== seqK) {
      throw new ShapeError(
        `${op}: a non-causal window needs seqQ == seqK (got seqQ ${seqQ}, seqK ${seqK}) to place queries among keys; pass mask: slidingWindowMask(${seqQ}, ${seqK}, ${w}, 'bottom-right' | 'top-left', { causal: false }) to name the alignment`,
      );
    }
    window = w;
  }
  const mask = opts.mask ?? null;
  if (mask !== null) checkMask(op, mask, scoresShape, shapes);

  // ---- fused where it applies ----
  const impl = opts.impl;
  if (impl !== undefined && impl !== 'fused' && impl !== 'composed') {
    throw new ShapeError(`${op}: impl must be 'fused' or 'composed' (or left unset), got ${String(impl)}`);
  }
  const needsGrad = isGradEnabled() && (q.requiresGrad || k.requiresGrad || v.requiresGrad);
  const notFused =
    p > 0 ? `apply dropout (${p})`
    : mask?.dtype === 'float32' ? `add a float32 (additive) mask ${fmt(mask.shape)}`
    : opts.returnWeights && needsGrad ? 'return weights that need a gradient (returnWeights while an input requires grad)'
    : null;
  if (impl === 'fused' && notFused !== null) {
    throw new ShapeError(`${op}: impl 'fused' cannot ${notFused}; use impl 'composed' or leave impl unset`);
  }
  if (impl !== 'composed' && notFused === null) {
    const params: AttentionParams = {
      batch, heads, kvHeads, seqQ, seqK, headDim, headDimV, scale, causal: align, window,
      mask: mask?.data ?? null,
      maskShape: mask === null ? null : [...Array<number>(4 - mask.ndim).fill(1), ...mask.shape],
    };
    return fusedAttention(q, k, v, params, opts.returnWeights ?? false);
  }

  // ---- composed ----
  let structural: Tensor | null = null; // [seqQ, seqK]
  if (window !== null) structural = slidingWindowMask(seqQ, seqK, window, align ?? 'top-left', { causal: align !== null });
  else if (align !== null) structural = causalMask(seqQ, seqK, align);
  const allowed = combineMasks(structural, mask?.dtype === 'bool' ? mask : null);
  const bias = mask?.dtype === 'float32' ? mask : null;

  // ---- scores: [batch, heads, seqQ, seqK] ----
  // Grouped heads: view q as [batch, kvHeads, group, seqQ, headDim] against k [batch, kvHeads, 1, seqK, headDim];
  // matmul broadcasts the group axis (and sums k's gradient back over it), so k and v are never repeated.
  const group = heads / kvHeads;
  const grouped = (t: Tensor, g: number): Tensor => (group === 1 ? t : t.reshape([t.shape[0], kvHeads, g, t.shape[2], t.shape[3]]));
  const qs = q.mul(scale); // scale q (seqQ·headDim products) rather than the scores (seqQ·seqK), as PyTorch's MultiheadAttention
  let scores = matmul(grouped(qs, group), grouped(k, 1), { transB: true });
  if (group !== 1) scores = scores.reshape(scoresShape);
  if (bias !== null) scores = scores.add(bias);
  if (allowed !== null) scores = scores.maskedFill(invertMask(allowed), -Infinity);

  // softmax gives a row of -Infinity zeros and zero gradient, so fully masked queries output 0, not NaN.
  const weights = softmax(scores, -1);
  const dropped = p > 0 ? dropoutOp(weights, p, { training: true, generator: opts.generator }) : weights;
  let output = matmul(grouped(dropped, group), grouped(v, 1)); // [batch, heads, seqQ, headDimV]
  if (group !== 1) output = output.reshape([batch, heads, seqQ, headDimV]);
  return opts.returnWeights ? { output, weights } : output;
}

/**
 * The fused op: the backend's attentionForward, and a backward (attentionBackward) that needs only q, k,
 * v, the output and the per-row log-sum-exp, so nothing of size seqQ x seqK is kept (but the caller's bool
 * mask, which says which keys were allowed). The weights, when asked for, are recomputed from the
 * log-sum-exp (the caller has checked that they need no gradient).
 */
function fusedAttention(q: Tensor, k: Tensor, v: Tensor, params: AttentionParams, returnWeights: boolean): Tensor | AttentionResult {
  const kern = backend();
  const { batch, heads, seqQ, seqK, headDimV } = params;
  const { out, lse } = kern.attentionForward(q.data, k.data, v.data, params);
  const output: Tensor = Tensor.fromOp('scaledDotProductAttention', out, [batch, heads, seqQ, headDimV], [q, k, v], (g) => {
    // output.data, not `out`: the tensor may hold its own copy (a backend that adopts tensors' data).
    const { dq, dk, dv } = kern.attentionBackward(q.data, k.data, v.data, output.data, lse, g, params);
    return [dq, dk, dv];
  });
  if (!returnWeights) return output;
  const weights = new Tensor(kern.attentionWeights(q.data, k.data, lse, params), [batch, heads, seqQ, seqK]);
  return { output, weights };
}

/** The alignment a `causal` option names, or null when not causal. */
function causalAlign(op: string, causal: boolean | MaskAlign, seqQ: number, seqK: number): MaskAlign | null {
  if (causal === false) return null;
  if (causal === 'bottom-right' || causal === 'top-left') return causal;
  if (causal === true) {
    if (seqQ === seqK) return 'top-left'; // the two alignments agree here
    throw new ShapeError(
      `${op}: causal: true is ambiguous when seqQ (${seqQ}) != seqK (${seqK}); name the alignment: ` +
        `causal: 'bottom-right' (queries are the last ${seqQ} positions: query i attends keys j <= i + ${seqK - seqQ}, the last query sees every key; KV-cache decoding, FlashAttention) ` +
        `or causal: 'top-left' (query i attends keys 0..i; PyTorch's is_causal)`,
    );
  }
  throw new ShapeError(`${op}: causal must be true, false, 'bottom-right' or 'top-left', got ${String(causal)}`);
}

/** A mask must broadcast *to* the scores' shape (it may not enlarge them). */
function checkMask(op: string, mask: Tensor, scoresShape: readonly number[], shapes: string): void {
  const ok = mask.ndim <= 4 && mask.shape.every((d, i) => d === 1 || d === scoresShape[4 - mask.ndim + i]);
  if (!ok) {
    throw new ShapeError(
      `${op}: mask ${fmt(mask.shape)} cannot broadcast to the scores [batch, heads, seqQ, seqK] = ${fmt(scoresShape)} (each size must match or be 1) (${shapes})`,
    );
  }
}
