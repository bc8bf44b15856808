/**
 * Fused neural-network kernels. Each has its forward and backward side by side, derived by hand and
 * checked against the composition of primitive ops and against PyTorch. Axes are laid out as
 * [outer, n, inner] so that any axis of a row-major tensor is reached without a copy.
 */

export interface NormResult {
  y: Float32Array;
  /** Per-row statistics saved for the backward pass: mean (layer norm only) and 1/sqrt(var + eps). */
  mean: Float32Array | null;
  rstd: Float32Array;
}

export interface NormGrads {
  dx: Float32Array;
  dweight: Float32Array | null;
  dbias: Float32Array | null;
}

export interface NNKernels {
  /**
   * Softmax along the middle axis of x: [outer, n, inner]. Stable (the row max is subtracted first).
   * A row that is entirely -Infinity (a fully masked attention row) gives zeros, not NaN.
   */
  softmax(x: Float32Array, outer: number, n: number, inner: number): Float32Array;
  /** dx = y * (dy - sum(dy * y)) along the axis; zero on a row of zeros (a fully masked row). */
  softmaxBackward(y: Float32Array, dy: Float32Array, outer: number, n: number, inner: number): Float32Array;
  /** x - max - log(sum(exp(x - max))) along the axis; a row entirely -Infinity stays -Infinity. */
  logSoftmax(x: Float32Array, outer: number, n: number, inner: number): Float32Array;
  /** dx = dy - exp(y) * sum(dy) along the axis; zero on a row entirely -Infinity. */
  logSoftmaxBackward(y: Float32Array, dy: Float32Array, outer: number, n: number, inner: number): Float32Array;
  /** Layer norm over the last `cols` values of each of `rows` rows, biased variance, then y = xhat * w + b. */
  layerNorm(x: Float32Array, weight: Float32Array | null, bias: Float32Array | null, rows: number, cols: number, eps: number): NormResult;
  layerNormBackward(x: Float32Array, weight: Float32Array | null, hasBias: boolean, mean: Float32Array, rstd: Float32Array, dy: Float32Array, rows: number, cols: number): NormGrads;
  /** RMS norm: y = x / sqrt(mean(x^2) + eps) * w. */
  rmsNorm(x: Float32Array, weight: Float32Array | null, rows: number, cols: number, eps: number): NormResult;
  rmsNormBackward(x: Float32Array, weight: Float32Array | null, rstd: Float32Array, dy: Float32Array, rows: number, cols: number): NormGrads;
  /** out[i, :] = table[ids[i], :] for a table [rows, cols]; ids already checked to be in range. */
  gather(table: Float32Array, cols: number, ids: Int32Array): Float32Array;
  /** The gradient of gather: dtable[ids[i], :] += dy[i, :], zeros elsewhere. */
  scatterAdd(dy: Float32Array, rows: number, cols: number, ids: Int32Array): Float32Array;
  /**
   * Cross-entropy of each row of logits [rows, classes] against its target class, with PyTorch's label
   * smoothing s: loss = (1 - s) * -logp[t] + (s / classes) * sum_c -logp[c]. `targets[r]` is the class,
   * already checked to be in [0, classes), or -1 for an ignored row, whose loss is 0. Returns [rows].
   */
  crossEntropy(logits: Float32Array, targets: Int32Array, rows: number, classes: number, labelSmoothing: number): Float32Array;
  /** dlogits[r, c] = dloss[r] * (softmax[r, c] - (1 - s) * [c = t] - s / classes); zero on ignored rows. */
  crossEntropyBackward(logits: Float32Array, targets: Int32Array, dloss: Float32Array, rows: number, classes: number, labelSmoothing: number): Float32Array;
}
