/**
 * Neural-network functions: softmax, norms, embedding, dropout, cross-entropy. Each checks its arguments
 * here and leaves the arithmetic (forward and hand-derived backward) to the backend's fused kernels.
 *
 * Integer arguments (token ids, class targets) are float32 tensors holding integer values; they are
 * checked element by element, and the first bad one is named with its flat position.
 */
import { backend } from '../backend/backend.js';
import { Tensor } from '../tensor/tensor.js';
import type { Generator } from '../tensor/random.js';
import { fmt, normAxis, numel, sameShape, ShapeError } from '../tensor/shape.js';
import { assertFiniteNumber, assertOptionalTensor, assertTensor, describe } from './validate.js';

/** The [outer, n, inner] layout of `axis`; a 0-d tensor is one row of one element, as in PyTorch. */
function rowsAlong(op: string, x: Tensor, axis: number): { outer: number; n: number; inner: number } {
  assertTensor(op, 'x', x);
  assertFiniteNumber(op, 'axis', axis);
  const shape = x.ndim === 0 ? [1] : x.shape;
  const a = normAxis(op, axis, shape.length);
  return { outer: numel(shape.slice(0, a)), n: shape[a], inner: numel(shape.slice(a + 1)) };
}

/**
 * Softmax along `axis` (default last; negative counts from the end): x [...] -> [...], each row along
 * `axis` non-negative and summing to 1. Stable (the row max is subtracted first).
 *
 * Unlike PyTorch (which gives NaN), a row that is entirely -Infinity gives zeros and a zero gradient:
 * attention with every key masked attends to nothing instead of poisoning the output with NaN.
 */
export function softmax(x: Tensor, axis = -1): Tensor {
  const k = backend();
  const { outer, n, inner } = rowsAlong('softmax', x, axis);
  const y = k.softmax(x.data, outer, n, inner);
  return Tensor.fromOp('softmax', y, x.shape, [x], (g) => [k.softmaxBackward(y, g, outer, n, inner)]);
}

/**
 * log(softmax(x)) along `axis` (default last), computed stably as x - logsumexp(x): x [...] -> [...].
 * A row that is entirely -Infinity stays -Infinity (PyTorch gives NaN), with a zero gradient.
 */
export function logSoftmax(x: Tensor, axis = -1): Tensor {
  const k = backend();
  const { outer, n, inner } = rowsAlong('logSoftmax', x, axis);
  const y = k.logSoftmax(x.data, outer, n, inner);
  return Tensor.fromOp('logSoftmax', y, x.shape, [x], (g) => [k.logSoftmaxBackward(y, g, outer, n, inner)]);
}

/** Checks x [..., d] and an optional per-feature vector [d]; returns d and the number of rows. */
function normShapes(op: string, x: Tensor, vectors: Record<string, Tensor | null>, eps: number): { rows: number; d: number } {
  assertTensor(op, 'x', x);
  for (const [name, v] of Object.entries(vectors)) assertOptionalTensor(op, name, v);
  assertFiniteNumber(op, 'eps', eps);
  if (x.ndim === 0) throw new ShapeError(`${op}: x is a scalar (shape []); it needs a last axis to normalize over`);
  const d = x.shape[x.ndim - 1];
  for (const [name, v] of Object.entries(vectors)) {
    if (v !== null && !(v.ndim === 1 && v.shape[0] === d)) {
      throw new ShapeError(`${op}: ${name} has shape ${fmt(v.shape)} but must be [${d}] to match the last axis of x ${fmt(x.shape)}`);
    }
  }
  if (!(eps >= 0)) throw new ShapeError(`${op}: eps must be a non-negative number, got ${eps}`);
  return { rows: numel(x.shape.slice(0, -1)), d };
}

/**
 * Layer norm over the last axis, as `F.layer_norm(x, [d], weight, bias, eps)`:
 * y = (x - mean) / sqrt(var + eps) * weight + bias, with the biased variance (divided by d).
 * x: [..., d]; weight, bias: [d] or null (null = 1 and 0, no parameter); y: [..., d].
 */
export function layerNorm(x: Tensor, weight: Tensor | null, bias: Tensor | null, eps = 1e-5): Tensor {
  weight ??= null; // an omitted (undefined) weight or bias is no parameter, as None in PyTorch
  bias ??= null;
  const { rows, d } = normShapes('layerNorm', x, { weight, bias }, eps);
  const k = backend();
  const { y, mean, rstd } = k.layerNorm(x.data, weight?.data ?? null, bias?.data ?? null, rows, d, eps);
  const parents = [x, ...(weight ? [weight] : []), ...(bias ? [bias] : [])];
  return Tensor.fromOp('layerNorm', y, x.shape, parents, (g) => {
    const r = k.layerNormBackward(x.data, weight?.data ?? null, bias !== null, mean!, rstd, g, rows, d);
    return [r.dx, ...(weight ? [r.dweight] : []), ...(bias ? [r.dbias] : [])];
  });
}

/**
 * RMS norm over the last axis, as PyTorch 2.x `nn.RMSNorm` and Llama: y = x * rsqrt(mean(x^2) + eps) * weight.
 * x: [..., d]; weight: [d] or null (no scale); y: [..., d]. Note the default eps is 1e-6 (Llama's);
 * `nn.RMSNorm(eps=None)` uses float32's machine epsilon (~1.19e-7) instead.
 */
export function rmsNorm(x: Tensor, weight: Tensor | null, eps = 1e-6): Tensor {
  weight ??= null;
  const { rows, d } = normShapes('rmsNorm', x, { weight }, eps);
  const k = backend();
  const { y, rstd } = k.rmsNorm(x.data, weight?.data ?? null, rows, d, eps);
  return Tensor.fromOp('rmsNorm', y, x.shape, weight ? [x, weight] : [x], (g) => {
    const r = k.rmsNormBackward(x.data, weight?.data ?? null, rstd, g, rows, d);
    return weight ? [r.dx, r.dweight] : [r.dx];
  });
}

/**
 * Rows of `weight` picked by integer ids, as `F.embedding`: ids [...] (integer values in [0, vocab)),
 * weight [vocab, dim] -> [..., dim]. The gradient scatter-adds into weight (a repeated id sums its rows);
 * ids get none. An id that is not an integer in range throws, naming it and its flat position in ids.
 */
export function embedding(ids: Tensor, weight: Tensor): Tensor {
  assertTensor('embedding', 'ids', ids);
  assertTensor('embedding', 'weight', weight);
  if (weight.ndim !== 2) throw new ShapeError(`embedding: weight must be [vocab, dim], got ${fmt(weight.shape)}`);
  const [vocab, dim] = weight.shape;
  const idx = new Int32Array(ids.size);
  ids.data.forEach((v, i) => {
    if (!Number.isInteger(v)) throw new ShapeError(`embedding: id ${v} at position ${i} is not an integer`);
    if (v < 0 || v >= vocab) throw new ShapeError(`embedding: id ${v} at position ${i} is outside the vocabulary [0, ${vocab})`);
    idx[i] = v;
  });
  const k = backend();
  const out = k.gather(weight.data, dim, idx);
  return Tensor.fromOp('embedding', out, [...ids.shape, dim], [weight], (g) => [k.scatterAdd(g, vocab, dim, idx)]);
}

/**
 * Inverted dropout, as `F.dropout`: in training, each element is zeroed with probability p and the rest
 * are scaled by 1/(1-p), so the expected value is unchanged; x [...] -> [...]. Identity (x itself) when
 * `training` is false or p = 0. p = 1 drops everything, as PyTorch: x * 0 (zeros for finite x) and a
 * zero gradient, with no mask drawn and no 1/(1-p) = Infinity. `training` defaults to true, as in
 * PyTorch. The mask draws one uniform per element, in order, from `opts.generator` (default: the global
 * generator, see `manualSeed`), so a seed fixes the mask; the gradient is the upstream gradient times
 * the same mask.
 */
export function dropout(x: Tensor, p: number, opts: { training?: boolean; generator?: Generator } = {}): Tensor {
  assertTensor('dropout', 'x', x);
  assertFiniteNumber('dropout', 'p', p);
  if (!(p >= 0 && p <= 1)) throw new ShapeError(`dropout: p must be in [0, 1], got ${p}`);
  if (typeof opts !== 'object' || opts === null) throw new ShapeError(`dropout: options must be an object such as { training: false }, got ${describe(opts)}`);
  if (opts.training === false || p === 0) return x;
  const k = backend();
  if (p === 1) {
    // x * 0, as PyTorch (which draws no mask here either, so the generator is not advanced): zeros for
    // finite x; a NaN or Infinity in x still shows as NaN, as it does where p < 1 drops it.
    return Tensor.fromOp('dropout', k.scalar('mul', x.data, 0, false), x.shape, [x], (g) => [k.scalar('mul', g, 0, false)]);
  }
  const u = Tensor.rand(x.shape, { generator: opts.generator }).data;
  const mask = k.scalar('mul', k.scalar('ge', u, p, false), 1 / (1 - p), false); // 0 or 1/(1-p)
  const y = k.binary('mul', x.data, x.shape, mask, x.shape, x.shape);
  return Tensor.fromOp('dropout', y, x.shape, [x], (g) => [k.binary('mul', g, x.shape, mask, x.shape, x.shape)]);
}

export interface CrossEntropyOptions {
  /** Targets with this value contribute nothing, to the loss or to the mean's count (default -100, as PyTorch). */
  ignoreIndex?: number;
  /** 'mean' over non-ignored targets (default), 'sum', or 'none' (per target). */
  reduction?: 'mean' | 'sum' | 'none';
  /** Label smoothing epsilon in [0, 1], as PyTorch's label_smoothing. */
  labelSmoothing?: number;
}

/**
 * Cross-entropy from logits and integer class targets, as `F.cross_entropy`, fused with log-softmax:
 * logits [N, C] with targets [N], or in general logits [..., C] with targets [...] (C may also be alone:
 * logits [C], targets []). The class axis is always the LAST (the transformer layout [batch, seq, vocab]);
 * PyTorch puts it at axis 1 for inputs of 3 or more axes ([N, C, d1]), so move it last to port such code.
 *
 * With label smoothing s, each target's loss is (1 - s) * -log p[t] + (s / C) * sum_c -log p[c].
 * Reduction: 'mean' divides the sum by the number of non-ignored targets (NaN when every target is
 * ignored, as PyTorch), 'sum' adds them (0 when all are ignored), 'none' gives one loss per target,
 * shape [...], 0 where ignored. Ignored targets get zero gradient. A target that is neither ignoreIndex
 * nor an integer in [0, C) throws, naming it, its flat position in targets and C.
 */
export function crossEntropy(logits: Tensor, targets: Tensor, opts: CrossEntropyOptions = {}): Tensor {
  assertTensor('crossEntropy', 'logits', logits);
  assertTensor('crossEntropy', 'targets', targets);
  if (typeof opts !== 'object' || opts === null) throw new ShapeError(`crossEntropy: options must be an object such as { reduction: 'sum' }, got ${describe(opts)}`);
  const { ignoreIndex = -100, reduction = 'mean', labelSmoothing = 0 } = opts;
  assertFiniteNumber('crossEntropy', 'ignoreIndex', ignoreIndex);
  assertFiniteNumber('crossEntropy', 'labelSmoothing', labelSmoothing);
  if (logits.ndim === 0) throw new ShapeError('crossEntropy: logits is a scalar (shape []); expected [..., C] with classes on the last axis');
  const classes = logits.shape[logits.ndim - 1];
  const rowShape = logits.shape.slice(0, -1);
  if (!sameShape(targets.shape, rowShape)) {
    throw new ShapeError(
      `crossEntropy: targets of shape ${fmt(targets.shape)} do not match logits of shape ${fmt(logits.shape)}: expected targets ${fmt(rowShape)} (one class per row of logits)`,
    );
  }
  if (!(labelSmoothing >= 0 && labelSmoothing <= 1)) throw new ShapeError(`crossEntropy: labelSmoothing must be in [0, 1], got ${labelSmoothing}`);
  if (!['mean', 'sum', 'none'].includes(reduction)) throw new ShapeError(`crossEntropy: reduction must be 'mean', 'sum' or 'none', got '${reduction}'`);

  // Class per row, -1 where ignored (ignoreIndex wins even when it is a valid class, as in PyTorch).
  const t = new Int32Array(targets.size);
  let count = 0;
  targets.data.forEach((v, i) => {
    if (v === ignoreIndex) {
      t[i] = -1;
      return;
    }
    if (!Number.isInteger(v) || v < 0 || v >= classes) {
      throw new ShapeError(
        `crossEntropy: target ${v} at position ${i} is not a class of logits ${fmt(logits.shape)}: expected an integer in [0, ${classes}) or ignoreIndex ${ignoreIndex}`,
      );
    }
    t[i] = v;
    count++;
  });

  const k = backend();
  const rows = t.length;
  const losses = k.crossEntropy(logits.data, t, rows, classes, labelSmoothing); // [rows], 0 where ignored
  const grad = (dloss: Float32Array): Float32Array[] => [k.crossEntropyBackward(logits.data, t, dloss, rows, classes, labelSmoothing)];
  if (reduction === 'none') return Tensor.fromOp('crossEntropy', losses, rowShape, [logits], grad);

  const divisor = reduction === 'mean' ? count : 1; // mean of nothing: 0 / 0 = NaN
  const total = k.scalar('div', k.sum(losses, [rows], [0]), divisor, false);
  // Every row gets g / divisor; the kernel zeroes ignored rows, so all-ignored gives zeros, not NaN.
  return Tensor.fromOp('crossEntropy', total, [], [logits], (g) => grad(k.broadcastTo(k.scalar('div', g, divisor, false), [1], [rows])));
}
