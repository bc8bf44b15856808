/**
 * Rotary position embedding (RoPE; Su et al. 2021, "RoFormer"), as Llama, GPT-NeoX and GPT-J use it.
 *
 * Queries and keys are cut into pairs of coordinates; the pair i of the vector at position p is rotated
 * by the angle p·θ_i, with θ_i = base^(-2i/d) (d = the rotated dimension, base = 10000):
 *
 *     [out_a]   [cos pθ_i  -sin pθ_i] [x_a]
 *     [out_b] = [sin pθ_i   cos pθ_i] [x_b]
 *
 * A rotation keeps norms, and rotating q at m and k at n by angles that add up makes q_m·k_n depend on the
 * positions only through m - n: attention scores see relative positions although each vector is
 * rotated by its own absolute one. Nothing is learned and values (v) are not rotated.
 *
 * Which coordinates form a pair is the one convention that differs between implementations:
 *
 * - rotate-half (default): pair i is (x[i], x[i + d/2]), as Hugging Face's Llama (`rotate_half`: x1 = first
 *   half, x2 = second half, out = x·cos + rotate_half(x)·sin with rotate_half(x) = cat(-x2, x1)). GPT-NeoX
 *   uses the same pairing (Llama's code was taken from it); so do Mistral, Qwen and most Hugging Face
 *   checkpoints.
 * - interleaved (`interleaved: true`): pair i is (x[2i], x[2i+1]), as the RoFormer paper writes it and as
 *   GPT-J (`rotate_every_two`) and Meta's original Llama code (complex multiplication) compute it.
 *
 * The two differ by a fixed permutation of the head's coordinates, which is why Hugging Face permutes the
 * rows of Meta's q and k projection weights when converting Llama checkpoints: weights trained with one
 * convention must be applied with that convention.
 */
import { Tensor } from '../tensor/tensor.js';
import { fmt, ShapeError } from '../tensor/shape.js';
import { add, mul, sub } from '../ops/elementwise.js';
import { concat, reshape, slice, unsqueeze } from '../ops/shape.js';

export interface RopeFrequencyOptions {
  /** θ_i = base^(-2i/headDim) (default 10000; Llama 3 uses 500000). */
  base?: number;
  /** Position of the first row (default 0): row r holds the angles of position offset + r. */
  offset?: number;
  /**
   * The arithmetic the angles are formed in:
   * - 'float64' (default): angle p·θ_i, cos and sin in float64, rounded once to float32. The nearest
   *   float32 to the exact tables at every position.
   * - 'float32': as Hugging Face's Llama / GPT-NeoX compute them in PyTorch: inv_freq = 1 / base^(2i/d),
   *   the angle p·inv_freq, then cos and sin, each rounded to float32. Use it to reproduce their outputs
   *   to the last bits. The float32 angle carries an error up to half an ulp of p·θ_i (about 1.2e-4 rad
   *   at p = 2048), so at long positions it is measurably less exact than 'float64'.
   */
  precision?: 'float64' | 'float32';
}

/** cos and sin of every (position, pair) angle. */
export interface RopeTables {
  /** cos: [seqLen, headDim/2], cos[r, i] = cos((offset + r)·θ_i). */
  cos: Tensor;
  /** sin: [seqLen, headDim/2], sin[r, i] = sin((offset + r)·θ_i). */
  sin: Tensor;
}

/**
 * The RoPE tables for positions offset..offset+seqLen-1: { cos, sin }, each [seqLen, headDim/2].
 *
 * One column per pair, not Hugging Face's [seqLen, headDim] (their second half repeats the first), so the
 * same tables serve both pairings; `applyRope` picks the pairing. `headDim` is the number of rotated
 * coordinates and must be even; for partial rotary (GPT-NeoX's rotary_pct, GPT-J's rotary_dim) pass the
 * rotated dimension, and `applyRope` leaves the remaining coordinates as they are.
 */
export function ropeFrequencies(seqLen: number, headDim: number, opts: RopeFrequencyOptions = {}): RopeTables {
  const { base = 10000, offset = 0, precision = 'float64' } = opts;
  const op = 'ropeFrequencies';
  if (!Number.isInteger(seqLen) || seqLen < 0) throw new ShapeError(`${op}: seqLen must be a non-negative integer, got ${seqLen}`);
  if (!Number.isInteger(headDim) || headDim <= 0 || headDim % 2 !== 0) {
    throw new ShapeError(`${op}: headDim must be a positive even integer (coordinates are rotated in pairs), got ${headDim}`);
  }
  if (!Number.isInteger(offset) || offset < 0) throw new ShapeError(`${op}: offset must be a non-negative integer, got ${offset}`);
  if (!(base > 0) || !Number.isFinite(base)) throw new ShapeError(`${op}: base must be a positive finite number, got ${base}`);
  if (precision !== 'float64' && precision !== 'float32') throw new ShapeError(`${op}: precision must be 'float64' or 'float32', got '${precision}'`);

  const half = headDim / 2;
  const f32 = precision === 'float32';
  // inv_freq[i] = 1 / base^(2i/d). In float32 mode every step is rounded as PyTorch's float32 tensors round
  // it: 2i/d, the power, the reciprocal, the product with the position (a float32 op computed in float64
  // and rounded once gives the correctly rounded float32 result, so Math.fround reproduces it).
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) {
    inv[i] = f32 ? Math.fround(1 / Math.fround(Math.pow(base, Math.fround((2 * i) / headDim)))) : 1 / Math.pow(base, (2 * i) / headDim);
  }
  const cos = new Float32Array(seqLen * half);
  const sin = new Float32Array(seqLen * half);
  for (let r = 0; r < seqLen; r++) {
    const p = offset + r;
    for (let i = 0; i < half; i++) {
      const angle = f32 ? Math.fround(p * inv[i]) : p * inv[i];
      cos[r * half + i] = Math.cos(angle);
      sin[r * half + i] = Math.sin(angle);
    }
  }
  return { cos: new Tensor(cos, [seqLen, half]), sin: new Tensor(sin, [seqLen, half]) };
}

export interface ApplyRopeOptions {
  /**
   * Row of cos/sin that x's first position uses (default 0). With tables for the whole context, pass the
   * number of tokens already in the KV cache when decoding: x holds positions offset..offset+seq-1.
   */
  offset?: number;
  /** Pair (x[2i], x[2i+1]) (GPT-J, RoFormer, Meta's Llama code) instead of (x[i], x[i+d/2]) (Hugging Face Llama, GPT-NeoX). Default false. */
  interleaved?: boolean;
}

/**
 * Rotates x by its positions: x: [batch, heads, seq, headDim] (any leading axes: [..., seq, headDim]);
 * cos, sin: [positions, rotaryDim/2] from `ropeFrequencies`, with positions >= offset + seq. Returns the
 * shape of x.
 *
 * The first rotaryDim = 2·cos.shape[1] coordinates of each head are rotated (all of them when rotaryDim =
 * headDim, the usual case); the rest pass through unchanged, as GPT-NeoX's and GPT-J's partial rotary.
 *
 * Built from elementwise and shape ops, in the order Hugging Face's `q * cos + rotate_half(q) * sin` rounds
 * (x1·c - x2·s and x2·c + x1·s, each product rounded, then the sum), so forward and gradients match theirs
 * to the last bits, and gradients flow to x (and to cos and sin if they require grad).
 */
export function applyRope(x: Tensor, cos: Tensor, sin: Tensor, opts: ApplyRopeOptions = {}): Tensor {
  const { offset = 0, interleaved = false } = opts;
  const op = 'applyRope';
  if (x.ndim < 2) throw new ShapeError(`${op}: x ${fmt(x.shape)} must be [..., seq, headDim]`);
  if (cos.ndim !== 2 || sin.ndim !== 2 || cos.shape[0] !== sin.shape[0] || cos.shape[1] !== sin.shape[1]) {
    throw new ShapeError(`${op}: cos ${fmt(cos.shape)} and sin ${fmt(sin.shape)} must both be [positions, rotaryDim/2] (from ropeFrequencies)`);
  }
  if (!Number.isInteger(offset) || offset < 0) throw new ShapeError(`${op}: offset must be a non-negative integer, got ${offset}`);
  const seq = x.shape[x.ndim - 2];
  const headDim = x.shape[x.ndim - 1];
  const [positions, half] = cos.shape;
  const rot = 2 * half;
  if (rot > headDim || half === 0) {
    throw new ShapeError(`${op}: cos/sin ${fmt(cos.shape)} rotate ${rot} coordinates but x ${fmt(x.shape)} has headDim ${headDim} (need 0 < rotaryDim <= headDim)`);
  }
  if (offset + seq > positions) {
    throw new ShapeError(
      `${op}: x ${fmt(x.shape)} at offset ${offset} needs positions up to ${offset + seq} (offset + seq) but cos/sin ${fmt(cos.shape)} cover ${positions}`,
    );
  }
  const last = x.ndim - 1;
  // The tables' rows for x's positions: [seq, half], broadcast over batch and heads.
  const c = offset === 0 && positions === seq ? cos : slice(cos, 0, offset, offset + seq);
  const s = offset === 0 && positions === seq ? sin : slice(sin, 0, offset, offset + seq);
  const xr = rot === headDim ? x : slice(x, last, 0, rot); // [..., seq, rot]

  let out: Tensor;
  if (!interleaved) {
    const x1 = slice(xr, last, 0, half); // [..., seq, half]
    const x2 = slice(xr, last, half, rot);
    out = concat([sub(mul(x1, c), mul(x2, s)), add(mul(x2, c), mul(x1, s))], last);
  } else {
    const lead = xr.shape.slice(0, -1);
    const pairs = reshape(xr, [...lead, half, 2]); // [..., seq, half, 2]
    const xa = slice(pairs, last + 1, 0, 1); // [..., seq, half, 1]: x[2i]
    const xb = slice(pairs, last + 1, 1, 2); //                        x[2i+1]
    const c1 = unsqueeze(c, 2); // [seq, half, 1]
    const s1 = unsqueeze(s, 2);
    out = reshape(concat([sub(mul(xa, c1), mul(xb, s1)), add(mul(xb, c1), mul(xa, s1))], last + 1), [...lead, rot]);
  }
  return rot === headDim ? out : concat([out, slice(x, last, rot, headDim)], last);
}
