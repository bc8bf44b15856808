/**
 * Fused attention kernels (FlashAttention-style): scaled dot-product attention forward and backward
 * without materializing the [seqQ, seqK] scores or weights. The forward saves only the log-sum-exp of each
 * query row; the backward recomputes each probability from it (FlashAttention-2). Masks follow qkv's one
 * convention, 1 = may attend; a fully masked row gives output 0, lse -Infinity, and no gradient.
 */

export interface AttentionParams {
  batch: number; heads: number; kvHeads: number; seqQ: number; seqK: number; headDim: number; headDimV: number;
  scale: number;
  /** Causal alignment, or null: 'top-left' -> query i sees keys j <= i; 'bottom-right' -> j <= i + (seqK - seqQ). */
  causal: 'top-left' | 'bottom-right' | null;
  /** Sliding window in keys, or null. With causal: p - window < j <= p (p = aligned query position). Without causal: |j - i| < window (requires seqQ == seqK, already checked by the op). */
  window: number | null;
  /** Bool mask data (1 = may attend, 0 = not), of 4-D shape maskShape whose sizes are each 1 or the full size of [batch, heads, seqQ, seqK] (broadcast); or null. */
  mask: Float32Array | null;
  maskShape: readonly number[] | null;
}

export interface AttentionKernels {
  /** q [batch, heads, seqQ, headDim], k [batch, kvHeads, seqK, headDim], v [batch, kvHeads, seqK, headDimV].
   *  Returns out [batch, heads, seqQ, headDimV] and lse [batch, heads, seqQ] = log(sum_j exp(scale*q.k_j)) over allowed keys j (natural log, of the SCALED scores), -Infinity on a fully masked row (whose out row is 0). */
  attentionForward(q: Float32Array, k: Float32Array, v: Float32Array, p: AttentionParams): { out: Float32Array; lse: Float32Array };
  /** Gradients given dout [batch, heads, seqQ, headDimV], recomputing probabilities from lse (FlashAttention-2: D_i = rowsum(dout_i * out_i)). dk, dv are summed over the query heads that share a kv head. Fully masked rows contribute nothing. */
  attentionBackward(q: Float32Array, k: Float32Array, v: Float32Array, out: Float32Array, lse: Float32Array, dout: Float32Array, p: AttentionParams): { dq: Float32Array; dk: Float32Array; dv: Float32Array };
  /** The attention weights [batch, heads, seqQ, seqK] recomputed from lse: exp(scale*q.k - lse) on allowed keys, 0 elsewhere (0 on fully masked rows). */
  attentionWeights(q: Float32Array, k: Float32Array, lse: Float32Array, p: AttentionParams): Float32Array;
}
