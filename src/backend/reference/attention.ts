/**
 * Reference fused attention: the specification the fast kernels (wasm) are tested against, so it is
 * written for clarity. One loop per (batch, head, query row) over the keys that row may attend; every
 * score, sum and product in float64, each output value rounded once to float32 at the end, as the other
 * reference kernels.
 *
 * For query row i (of batch b, head h, using kv head floor(h / (heads / kvHeads))) and its allowed keys j:
 *
 *     s_j  = scale * (q_i . k_j)
 *     lse  = log(sum_j exp(s_j))               (computed as m + log(sum_j exp(s_j - m)), m = max_j s_j)
 *     P_j  = exp(s_j - lse)                     (the softmax; 0 on keys that are not allowed)
 *     out  = sum_j P_j v_j
 *
 * Backward (FlashAttention-2), given dout_i and the saved lse and out:
 *
 *     D_i   = dout_i . out_i                    (= sum_j P_j (dout_i . v_j))
 *     dP_j  = dout_i . v_j
 *     dS_j  = P_j (dP_j - D_i)                   (softmax backward)
 *     dq_i  = scale * sum_j dS_j k_j
 *     dk_j += scale * dS_j q_i,   dv_j += P_j dout_i   (summed over rows and over the query heads of a kv head)
 *
 * A row with no allowed key has lse = -Infinity and output 0, and is skipped by the backward: it
 * attends to nothing, so nothing flows through it.
 */
import type { AttentionKernels, AttentionParams } from '../kernels/attention.js';

/**
 * Whether query i of (batch b, head h) may attend key j: causal AND sliding window AND the bool mask.
 * The one definition of masking, used by all three kernels.
 */
export function allowed(p: AttentionParams, b: number, h: number, i: number, j: number): boolean {
  if (p.causal !== null) {
    const pos = p.causal === 'bottom-right' ? i + (p.seqK - p.seqQ) : i; // the query's aligned position
    if (j > pos) return false;
    if (p.window !== null && j <= pos - p.window) return false; // p - window < j <= p
  } else if (p.window !== null && Math.abs(j - i) >= p.window) return false; // |j - i| < window
  if (p.mask !== null) {
    const s = p.maskShape!; // 4-D; each size 1 (broadcast: index 0) or full
    const at = (((s[0] === 1 ? 0 : b) * s[1] + (s[1] === 1 ? 0 : h)) * s[2] + (s[2] === 1 ? 0 : i)) * s[3] + (s[3] === 1 ? 0 : j);
    if (p.mask[at] === 0) return false;
  }
  return true;
}

/** x[xo .. xo + n) . y[yo .. yo + n), in float64. */
function dot(x: Float32Array, xo: number, y: Float32Array, yo: number, n: number): number {
  let s = 0;
  for (let d = 0; d < n; d++) s += x[xo + d] * y[yo + d];
  return s;
}

/**
 * Calls fn(b, h, i, row, kv) for every query row: `row` = (b * heads + h) * seqQ + i indexes lse and the
 * rows of q / out, `kv` = b * kvHeads + floor(h / group) the kv head's [seqK, ·] block of k and v.
 */
function forEachRow(p: AttentionParams, fn: (b: number, h: number, i: number, row: number, kv: number) => void): void {
  const group = p.heads / p.kvHeads;
  for (let b = 0; b < p.batch; b++) {
    for (let h = 0; h < p.heads; h++) {
      const kv = b * p.kvHeads + Math.floor(h / group);
      for (let i = 0; i < p.seqQ; i++) fn(b, h, i, (b * p.heads + h) * p.seqQ + i, kv);
    }
  }
}

export const attention: AttentionKernels = {
  attentionForward(q, k, v, p) {
    const { seqK, headDim: D, headDimV: DV, scale } = p;
    const out = new Float32Array(p.batch * p.heads * p.seqQ * DV); // zeros: what a fully masked row keeps
    const lse = new Float32Array(p.batch * p.heads * p.seqQ);
    const keys = new Int32Array(seqK); // this row's allowed keys
    const s = new Float64Array(seqK); // and their scores
    const acc = new Float64Array(DV);
    forEachRow(p, (b, h, i, row, kv) => {
      let n = 0;
      let m = -Infinity;
      for (let j = 0; j < seqK; j++) {
        if (!allowed(p, b, h, i, j)) continue;
        keys[n] = j;
        s[n] = scale * dot(q, row * D, k, (kv * seqK + j) * D, D);
        m = Math.max(m, s[n]); // NaN propagates
        n++;
      }
      if (n === 0) {
        lse[row] = -Infinity;
        return;
      }
      let sum = 0;
      acc.fill(0);
      for (let t = 0; t < n; t++) {
        const e = Math.exp(s[t] - m);
        sum += e;
        const vo = (kv * seqK + keys[t]) * DV;
        for (let d = 0; d < DV; d++) acc[d] += e * v[vo + d];
      }
      for (let d = 0; d < DV; d++) out[row * DV + d] = acc[d] / sum;
      lse[row] = m + Math.log(sum);
    });
    return { out, lse };
  },

  attentionBackward(q, k, v, out, lse, dout, p) {
    const { seqK, headDim: D, headDimV: DV, scale } = p;
    const dq = new Float32Array(q.length);
    const dk = new Float64Array(k.length); // summed over rows and over the query heads sharing a kv head
    const dv = new Float64Array(v.length);
    const dqRow = new Float64Array(D);
    forEachRow(p, (b, h, i, row, kv) => {
      const L = lse[row];
      if (L === -Infinity) return; // fully masked: contributes nothing
      const qo = row * D;
      const oo = row * DV;
      const Di = dot(dout, oo, out, oo, DV);
      dqRow.fill(0);
      for (let j = 0; j < seqK; j++) {
        if (!allowed(p, b, h, i, j)) continue;
        const ko = (kv * seqK + j) * D;
        const vo = (kv * seqK + j) * DV;
        const P = Math.exp(scale * dot(q, qo, k, ko, D) - L);
        const dS = P * (dot(dout, oo, v, vo, DV) - Di);
        for (let d = 0; d < D; d++) {
          dqRow[d] += dS * k[ko + d];
          dk[ko + d] += scale * dS * q[qo + d];
        }
        for (let d = 0; d < DV; d++) dv[vo + d] += P * dout[oo + d];
      }
      for (let d = 0; d < D; d++) dq[qo + d] = scale * dqRow[d];
    });
    return { dq, dk: Float32Array.from(dk), dv: Float32Array.from(dv) };
  },

  attentionWeights(q, k, lse, p) {
    const { seqK, headDim: D, scale } = p;
    const w = new Float32Array(p.batch * p.heads * p.seqQ * seqK); // zeros on masked keys and rows
    forEachRow(p, (b, h, i, row, kv) => {
      const L = lse[row];
      if (L === -Infinity) return;
      for (let j = 0; j < seqK; j++) {
        if (allowed(p, b, h, i, j)) w[row * seqK + j] = Math.exp(scale * dot(q, row * D, k, (kv * seqK + j) * D, D) - L);
      }
    });
    return w;
  },
};
