/**
 * Reference fused NN kernels: each row's statistics accumulated in float64, each output rounded once to
 * float32. Forward and hand-derived backward sit side by side; the derivations are in the comments.
 *
 * Softmax-like kernels address element i of row (o, j) of an [outer, n, inner] layout at
 * (o * n + i) * inner + j, so any axis is reached without a transpose.
 */
import type { NNKernels, NormGrads, NormResult } from '../kernels/nn.js';

/**
 * Max of one row; NaN wins (so a row with a NaN gives NaN, not a silently masked row). -Infinity means
 * the row is entirely -Infinity (or empty): a fully masked row.
 */
function rowMax(x: Float32Array, base: number, n: number, inner: number): number {
  let m = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = x[base + i * inner];
    if (v !== v) return NaN;
    if (v > m) m = v;
  }
  return m;
}

/** log(sum(exp(x))) of one row, given its max m (finite or NaN). */
function rowLogSumExp(x: Float32Array, base: number, n: number, inner: number, m: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += Math.exp(x[base + i * inner] - m);
  return m + Math.log(s);
}

export const nn: NNKernels = {
  // ---- softmax: y = exp(x - max) / sum(exp(x - max)) ----

  softmax(x, outer, n, inner) {
    const y = new Float32Array(x.length); // zeros: what a fully masked row keeps
    const e = new Float64Array(n);
    for (let o = 0; o < outer; o++) {
      for (let j = 0; j < inner; j++) {
        const base = o * n * inner + j;
        const m = rowMax(x, base, n, inner);
        if (m === -Infinity) continue; // all -Infinity: zeros, so attention over nothing attends to nothing
        let s = 0;
        for (let i = 0; i < n; i++) {
          e[i] = Math.exp(x[base + i * inner] - m);
          s += e[i];
        }
        for (let i = 0; i < n; i++) y[base + i * inner] = e[i] / s;
      }
    }
    return y;
  },

  // dy_i/dx_k = y_i (delta_ik - y_k), so dx_k = y_k (dy_k - sum_i dy_i y_i). A zero row (fully masked) gets
  // zero gradient from the y_k factor: no special case needed.
  softmaxBackward(y, dy, outer, n, inner) {
    const dx = new Float32Array(y.length);
    for (let o = 0; o < outer; o++) {
      for (let j = 0; j < inner; j++) {
        const base = o * n * inner + j;
        let dot = 0;
        for (let i = 0; i < n; i++) dot += dy[base + i * inner] * y[base + i * inner];
        for (let i = 0; i < n; i++) {
          const k = base + i * inner;
          dx[k] = y[k] * (dy[k] - dot);
        }
      }
    }
    return dx;
  },

  // ---- log-softmax: y = x - logsumexp(x) ----

  logSoftmax(x, outer, n, inner) {
    const y = new Float32Array(x.length);
    for (let o = 0; o < outer; o++) {
      for (let j = 0; j < inner; j++) {
        const base = o * n * inner + j;
        const m = rowMax(x, base, n, inner);
        // All -Infinity: every probability is 0, so every log-probability is -Infinity (not -inf - -inf = NaN).
        const lse = m === -Infinity ? NaN : rowLogSumExp(x, base, n, inner, m);
        for (let i = 0; i < n; i++) y[base + i * inner] = m === -Infinity ? -Infinity : x[base + i * inner] - lse;
      }
    }
    return y;
  },

  // dy_i/dx_k = delta_ik - softmax_k, so dx_k = dy_k - exp(y_k) sum_i dy_i. A row entirely -Infinity is
  // constant (masked), so its gradient is zero, as softmax's.
  logSoftmaxBackward(y, dy, outer, n, inner) {
    const dx = new Float32Array(y.length);
    for (let o = 0; o < outer; o++) {
      for (let j = 0; j < inner; j++) {
        const base = o * n * inner + j;
        if (rowMax(y, base, n, inner) === -Infinity) continue;
        let s = 0;
        for (let i = 0; i < n; i++) s += dy[base + i * inner];
        for (let i = 0; i < n; i++) {
          const k = base + i * inner;
          dx[k] = dy[k] - Math.exp(y[k]) * s;
        }
      }
    }
    return dx;
  },

  // ---- layer norm: xhat = (x - mean) * rstd, rstd = 1 / sqrt(var + eps) (biased var), y = xhat * w + b ----

  layerNorm(x, weight, bias, rows, cols, eps): NormResult {
    const y = new Float32Array(rows * cols);
    const mean = new Float32Array(rows);
    const rstd = new Float32Array(rows);
    for (let r = 0; r < rows; r++) {
      const off = r * cols;
      let s = 0;
      for (let c = 0; c < cols; c++) s += x[off + c];
      const mu = s / cols;
      let v = 0; // two passes: no cancellation from E[x^2] - E[x]^2
      for (let c = 0; c < cols; c++) v += (x[off + c] - mu) ** 2;
      const rs = 1 / Math.sqrt(v / cols + eps);
      mean[r] = mu;
      rstd[r] = rs;
      for (let c = 0; c < cols; c++) {
        const xhat = (x[off + c] - mu) * rs;
        y[off + c] = xhat * (weight ? weight[c] : 1) + (bias ? bias[c] : 0);
      }
    }
    return { y, mean, rstd };
  },

  // With g = dy * w: dxhat_j/dx_i = rstd (delta_ij - 1/n - xhat_i xhat_j / n), so
  // dx_i = rstd (g_i - mean(g) - xhat_i mean(g xhat)); dw = sum over rows of dy xhat, db = sum of dy.
  layerNormBackward(x, weight, hasBias, mean, rstd, dy, rows, cols): NormGrads {
    const dx = new Float32Array(rows * cols);
    const dw = weight ? new Float64Array(cols) : null;
    const db = hasBias ? new Float64Array(cols) : null;
    for (let r = 0; r < rows; r++) {
      const off = r * cols;
      const mu = mean[r];
      const rs = rstd[r];
      let sg = 0;
      let sgx = 0;
      for (let c = 0; c < cols; c++) {
        const xhat = (x[off + c] - mu) * rs;
        const g = dy[off + c] * (weight ? weight[c] : 1);
        sg += g;
        sgx += g * xhat;
        if (dw) dw[c] += dy[off + c] * xhat;
        if (db) db[c] += dy[off + c];
      }
      for (let c = 0; c < cols; c++) {
        const xhat = (x[off + c] - mu) * rs;
        const g = dy[off + c] * (weight ? weight[c] : 1);
        dx[off + c] = rs * (g - sg / cols - xhat * (sgx / cols));
      }
    }
    return { dx, dweight: dw && Float32Array.from(dw), dbias: db && Float32Array.from(db) };
  },

  // ---- RMS norm: xhat = x * rstd, rstd = 1 / sqrt(mean(x^2) + eps), y = xhat * w ----

  rmsNorm(x, weight, rows, cols, eps): NormResult {
    const y = new Float32Array(rows * cols);
    const rstd = new Float32Array(rows);
    for (let r = 0; r < rows; r++) {
      const off = r * cols;
      let ss = 0;
      for (let c = 0; c < cols; c++) ss += x[off + c] * x[off + c];
      const rs = 1 / Math.sqrt(ss / cols + eps);
      rstd[r] = rs;
      for (let c = 0; c < cols; c++) y[off + c] = x[off + c] * rs * (weight ? weight[c] : 1);
    }
    return { y, mean: null, rstd };
  },

  // With g = dy * w: drstd/dx_i = -rstd^3 x_i / n, so dxhat_j/dx_i = rstd (delta_ij - xhat_i xhat_j / n) and
  // dx_i = rstd (g_i - xhat_i mean(g xhat)); dw = sum over rows of dy xhat.
  rmsNormBackward(x, weight, rstd, dy, rows, cols): NormGrads {
    const dx = new Float32Array(rows * cols);
    const dw = weight ? new Float64Array(cols) : null;
    for (let r = 0; r < rows; r++) {
      const off = r * cols;
      const rs = rstd[r];
      let sgx = 0;
      for (let c = 0; c < cols; c++) {
        const xhat = x[off + c] * rs;
        sgx += dy[off + c] * (weight ? weight[c] : 1) * xhat;
        if (dw) dw[c] += dy[off + c] * xhat;
      }
      for (let c = 0; c < cols; c++) {
        const xhat = x[off + c] * rs;
        dx[off + c] = rs * (dy[off + c] * (weight ? weight[c] : 1) - xhat * (sgx / cols));
      }
    }
    return { dx, dweight: dw && Float32Array.from(dw), dbias: null };
  },

  // ---- embedding lookup and its gradient ----

  gather(table, cols, ids) {
    const out = new Float32Array(ids.length * cols);
    for (let i = 0; i < ids.length; i++) out.set(table.subarray(ids[i] * cols, (ids[i] + 1) * cols), i * cols);
    return out;
  },

  // Positions sorted by id (ties in position order), so that each touched row is summed in float64 in one
  // buffer of `cols` and written once: no float64 [rows, cols] buffer, and each row adds its terms in the
  // same order (increasing position) as a plain loop over ids would, so the sums are the same.
  scatterAdd(dy, rows, cols, ids) {
    const out = new Float32Array(rows * cols);
    const order = Int32Array.from({ length: ids.length }, (_, i) => i).sort((p, q) => ids[p] - ids[q] || p - q);
    const acc = new Float64Array(cols); // float64: a frequent token sums many rows
    for (let s = 0; s < order.length; ) {
      const id = ids[order[s]];
      acc.fill(0);
      for (; s < order.length && ids[order[s]] === id; s++) {
        const src = order[s] * cols;
        for (let c = 0; c < cols; c++) acc[c] += dy[src + c];
      }
      out.set(acc, id * cols); // rounds each sum once to float32
    }
    return out;
  },

  // ---- cross-entropy, fused with log-softmax ----
  // With lse = logsumexp(x): -logp[c] = lse - x[c], so the loss is (1 - s)(lse - x[t]) + (s / C) sum_c (lse - x[c]).

  crossEntropy(logits, targets, rows, classes, labelSmoothing) {
    const loss = new Float32Array(rows);
    for (let r = 0; r < rows; r++) {
      const t = targets[r];
      if (t < 0) continue; // ignored: contributes 0
      const off = r * classes;
      const m = rowMax(logits, off, classes, 1);
      if (m === -Infinity) {
        loss[r] = Infinity; // every log-probability is -Infinity, as logSoftmax gives
        continue;
      }
      const lse = rowLogSumExp(logits, off, classes, 1, m);
      let l = lse - logits[off + t];
      // Only with smoothing: a -Infinity logit makes the smooth term Infinity, and 0 * Infinity is NaN.
      if (labelSmoothing > 0) {
        let smooth = 0;
        for (let c = 0; c < classes; c++) smooth += lse - logits[off + c];
        l = (1 - labelSmoothing) * l + (labelSmoothing / classes) * smooth;
      }
      loss[r] = l;
    }
    return loss;
  },

  // d(lse)/dx[c] = softmax[c], d(x[t])/dx[c] = [c = t], and sum_c' d(lse - x[c'])/dx[c] = C softmax[c] - 1, so
  // dloss/dx[c] = softmax[c] - (1 - s)[c = t] - s / C.
  crossEntropyBackward(logits, targets, dloss, rows, classes, labelSmoothing) {
    const dx = new Float32Array(rows * classes);
    for (let r = 0; r < rows; r++) {
      const t = targets[r];
      const off = r * classes;
      const m = t < 0 ? -Infinity : rowMax(logits, off, classes, 1);
      if (m === -Infinity) continue; // ignored or fully masked row: zero gradient
      const lse = rowLogSumExp(logits, off, classes, 1, m);
      const g = dloss[r];
      for (let c = 0; c < classes; c++) {
        const p = Math.exp(logits[off + c] - lse);
        dx[off + c] = g * (p - (c === t ? 1 - labelSmoothing : 0) - labelSmoothing / classes);
      }
    }
    return dx;
  },
};
