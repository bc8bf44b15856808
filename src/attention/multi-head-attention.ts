/**
 * Multi-head attention, as `torch.nn.MultiheadAttention(batch_first=True)` plus grouped-query heads:
 * project query, key and value, split into heads, attend (scaledDotProductAttention), merge, project out.
 *
 * Children are four Linear layers `q`, `k`, `v`, `out`, so the state names are `q.weight`, `k.weight`,
 * `v.weight`, `out.weight` (+ biases). `fromTorchState` maps PyTorch's `in_proj_weight` layout onto them.
 *
 * Initialisation follows `nn.MultiheadAttention._reset_parameters`:
 *
 * - q, k, v weights: xavier_uniform_, U(-a, a) with a = sqrt(6 / (fan_in + fan_out)). PyTorch applies it
 *   to the packed `in_proj_weight` [3E, E] when kDim == vDim == embedDim, so all three share the bound
 *   a = sqrt(6 / (E + 3E)); otherwise (separate `q/k/v_proj_weight`) to each matrix, a = sqrt(6 / (in + out))
 *   of that matrix. Grouped-query attention (numKVHeads < numHeads) has no PyTorch counterpart; there the
 *   three matrices have different shapes and cannot be packed, so each gets its own xavier bound, as
 *   PyTorch's separate-weights case: q sqrt(6 / (E + E)), k sqrt(6 / (kDim + numKVHeads·headDim)),
 *   v sqrt(6 / (vDim + numKVHeads·headDim)).
 * - q, k, v and out biases: zero (`in_proj_bias` and `out_proj.bias`).
 * - out weight: Linear's default, U(-1/sqrt(E), 1/sqrt(E)) (PyTorch leaves `out_proj.weight` as its
 *   NonDynamicallyQuantizableLinear made it).
 *
 * The values themselves differ from PyTorch's (another generator); the distributions are the same.
 */
import '../ops/methods.js';
import { Tensor } from '../tensor/tensor.js';
import type { Generator } from '../tensor/random.js';
import { fmt, ShapeError } from '../tensor/shape.js';
import { Module } from '../nn/module.js';
import { Linear } from '../nn/linear.js';
import { where } from '../ops/shape.js';
import { scaledDotProductAttention, type AttentionOptions } from './sdpa.js';
import { combineMasks, paddingMask, type MaskAlign } from './masks.js';

export interface MultiHeadAttentionOptions {
  /** Model width: query input and output size; numHeads * headDim. */
  embedDim: number;
  numHeads: number;
  /** Key/value heads for grouped-query attention (must divide numHeads; 1 = multi-query). Default numHeads. */
  numKVHeads?: number;
  /** Biases on all four projections (default true, as PyTorch). */
  bias?: boolean;
  /** Size of the key input (cross-attention), default embedDim. */
  kDim?: number;
  /** Size of the value input (cross-attention), default embedDim. */
  vDim?: number;
  /** Dropout probability on the attention weights, in training mode only (default 0). */
  dropout?: number;
  /** Generator for initialisation and dropout (default: the global one). */
  generator?: Generator;
}

/**
 * A positional hook applied to the heads after projection, before the scores: RoPE goes here.
 * Called with q: [batch, numHeads, seqQ, headDim] (`role` 'q') and k: [batch, numKVHeads, seqK, headDim]
 * (`role` 'k'); returns a tensor of the same shape.
 */
export type RotaryHook = (x: Tensor, role: 'q' | 'k') => Tensor;

export interface MultiHeadAttentionForwardOptions {
  /** bool [batch, seqK]: true = a real token that may be attended, false = padding. (PyTorch's key_padding_mask is the inverse.) */
  keyMask?: Tensor | null;
  /**
   * As scaledDotProductAttention: bool (true = may attend) or float (additive), broadcastable to
   * [batch, numHeads, seqQ, seqK] (e.g. [seqQ, seqK], [batch, 1, seqQ, seqK]). A 3-D mask must be
   * [1, seqQ, seqK]: PyTorch's 3-D attn_mask is [batch * numHeads, seqQ, seqK], which would broadcast here
   * as [heads, seqQ, seqK] and mean something else, so it is refused; reshape it to 4-D.
   */
  mask?: Tensor | null;
  /** As scaledDotProductAttention: true (seqQ == seqK only), 'bottom-right' or 'top-left'. */
  causal?: boolean | MaskAlign;
  /** Sliding window, as scaledDotProductAttention. */
  window?: number;
  /** Return the attention weights (default false). */
  needWeights?: boolean;
  /** With needWeights: average the weights over heads, [batch, seqQ, seqK] (default true, as PyTorch's average_attn_weights), or keep [batch, numHeads, seqQ, seqK]. */
  averageWeights?: boolean;
  /** Optional rotary/positional hook on q and k heads. */
  rope?: RotaryHook;
}

export interface MultiHeadAttentionOutput {
  /** [batch, seqQ, embedDim] */
  output: Tensor;
  /** [batch, seqQ, seqK] averaged over heads, [batch, numHeads, seqQ, seqK] per head, or null without needWeights. Softmax probabilities before dropout. */
  weights: Tensor | null;
}

export class MultiHeadAttention extends Module {
  readonly embedDim: number;
  readonly numHeads: number;
  readonly numKVHeads: number;
  readonly headDim: number;
  readonly kDim: number;
  readonly vDim: number;
  readonly dropout: number;
  private readonly generator: Generator | undefined;
  /** embedDim -> numHeads * headDim */
  q: Linear;
  /** kDim -> numKVHeads * headDim */
  k: Linear;
  /** vDim -> numKVHeads * headDim */
  v: Linear;
  /** numHeads * headDim -> embedDim */
  out: Linear;

  constructor(opts: MultiHeadAttentionOptions) {
    super();
    const { embedDim, numHeads, bias = true, dropout = 0, generator } = opts;
    const numKVHeads = opts.numKVHeads ?? numHeads;
    const name = 'MultiHeadAttention';
    for (const [k, n] of [['embedDim', embedDim], ['numHeads', numHeads], ['numKVHeads', numKVHeads], ['kDim', opts.kDim ?? 1], ['vDim', opts.vDim ?? 1]] as const) {
      if (!Number.isInteger(n) || n < 1) throw new ShapeError(`${name}: ${k} must be a positive integer, got ${n}`);
    }
    if (embedDim % numHeads !== 0) throw new ShapeError(`${name}: embedDim ${embedDim} must be divisible by numHeads ${numHeads} (headDim = embedDim / numHeads)`);
    if (numHeads % numKVHeads !== 0) {
      throw new ShapeError(`${name}: numKVHeads ${numKVHeads} must divide numHeads ${numHeads} (grouped-query attention; 1 = multi-query)`);
    }
    if (!(dropout >= 0 && dropout < 1)) throw new ShapeError(`${name}: dropout must be a probability in [0, 1), got ${dropout}`);
    this.embedDim = embedDim;
    this.numHeads = numHeads;
    this.numKVHeads = numKVHeads;
    this.headDim = embedDim / numHeads;
    this.kDim = opts.kDim ?? embedDim;
    this.vDim = opts.vDim ?? embedDim;
    this.dropout = dropout;
    this.generator = generator;
    const kvWidth = numKVHeads * this.headDim;
    this.q = new Linear(embedDim, embedDim, { bias, generator });
    this.k = new Linear(this.kDim, kvWidth, { bias, generator });
    this.v = new Linear(this.vDim, kvWidth, { bias, generator });
    this.out = new Linear(embedDim, embedDim, { bias, generator });
    // PyTorch's _reset_parameters (see the module comment): xavier on q, k, v; zero biases; out.weight as Linear.
    const packed = this.kDim === embedDim && this.vDim === embedDim && numKVHeads === numHeads;
    for (const lin of [this.q, this.k, this.v]) {
      const a = packed ? Math.sqrt(6 / (embedDim + 3 * embedDim)) : Math.sqrt(6 / (lin.inFeatures + lin.outFeatures));
      lin.weight = Tensor.rand([lin.outFeatures, lin.inFeatures], { low: -a, high: a, generator, requiresGrad: true });
    }
    for (const lin of [this.q, this.k, this.v, this.out]) {
      if (lin.bias !== null) lin.bias = Tensor.zeros([lin.outFeatures], true);
    }
  }

  /**
   * query: [batch, seqQ, embedDim], key: [batch, seqK, kDim], value: [batch, seqK, vDim] (batch first, always).
   * Self-attention passes the same tensor three times. Returns output [batch, seqQ, embedDim] and the
   * weights if asked.
   */
  forward(query: Tensor, key: Tensor, value: Tensor, opts: MultiHeadAttentionForwardOptions = {}): MultiHeadAttentionOutput {
    const name = 'MultiHeadAttention';
    const shapes = `query ${fmt(query.shape)}, key ${fmt(key.shape)}, value ${fmt(value.shape)}`;
    for (const [n, t, d, s] of [['query', query, this.embedDim, 'seqQ'], ['key', key, this.kDim, 'seqK'], ['value', value, this.vDim, 'seqK']] as const) {
      if (t.ndim !== 3 || t.shape[2] !== d) {
        throw new ShapeError(`${name}: ${n} must be [batch, ${s}, ${d}] (batch first), got ${fmt(t.shape)} (${shapes})`);
      }
    }
    const [batch, seqQ] = query.shape;
    const seqK = key.shape[1];
    if (key.shape[0] !== batch || value.shape[0] !== batch) throw new ShapeError(`${name}: batch sizes differ (${shapes})`);
    if (value.shape[1] !== seqK) throw new ShapeError(`${name}: key and value must have the same seqK (${shapes})`);
    const { keyMask = null, needWeights = false, averageWeights = true, rope } = opts;
    if (keyMask !== null) {
      if (keyMask.dtype !== 'bool' || keyMask.ndim !== 2 || keyMask.shape[0] !== batch || keyMask.shape[1] !== seqK) {
        throw new ShapeError(
          `${name}: keyMask must be bool [batch, seqK] = [${batch},${seqK}] (true = real token that may be attended), got ${keyMask.dtype} ${fmt(keyMask.shape)}`,
        );
      }
    }

    const H = this.numHeads;
    const mask0 = opts.mask ?? null;
    // Checked here, before keyMask is folded in: after that an error would show the combined mask's shape.
    if (mask0 !== null) {
      const scores = [batch, H, seqQ, seqK];
      const want = `[batch, numHeads, seqQ, seqK] = ${fmt(scores)}`;
      if (mask0.ndim === 3 && mask0.shape[0] !== 1) {
        throw new ShapeError(
          `${name}: a 3-D mask must be [1, seqQ, seqK]; got mask ${fmt(mask0.shape)}. PyTorch's 3-D attn_mask is [batch * numHeads, seqQ, seqK], ` +
            `which here would broadcast as [numHeads, seqQ, seqK] and mean something else; pass a 4-D mask [batch, 1, seqQ, seqK] = [${batch},1,${seqQ},${seqK}] ` +
            `(or [batch, numHeads, seqQ, seqK] for per-head masks) (scores ${want}; ${shapes})`,
        );
      }
      if (mask0.ndim > 4 || !mask0.shape.every((d, i) => d === 1 || d === scores[4 - mask0.ndim + i])) {
        throw new ShapeError(`${name}: mask ${fmt(mask0.shape)} cannot broadcast to the scores ${want} (each size must match or be 1) (${shapes})`);
      }
    }

    const Hkv = this.numKVHeads;
    const D = this.headDim;
    // [batch, seq, heads * headDim] -> [batch, heads, seq, headDim]
    const heads = (x: Tensor, h: number, s: number): Tensor => x.reshape([batch, s, h, D]).transpose(1, 2);
    let q = heads(this.q.forward(query), H, seqQ);
    let k = heads(this.k.forward(key), Hkv, seqK);
    const v = heads(this.v.forward(value), Hkv, seqK);
    if (rope) {
      q = rope(q, 'q');
      k = rope(k, 'k');
    }

    // keyMask and a bool mask are both "may attend", so they combine by and; a float mask stays additive.
    let mask = mask0;
    if (keyMask !== null) {
      const pad = paddingMask(keyMask); // [batch, 1, 1, seqK]
      mask = mask === null || mask.dtype === 'bool' ? combineMasks(mask, pad) : mask.add(where(pad, 0, -Infinity));
    }
    const attnOpts: AttentionOptions = {
      causal: opts.causal,
      window: opts.window,
      mask,
      dropout: this.training ? this.dropout : 0,
      generator: this.generator,
    };
    // Weights only when asked for: without them sdpa can take its fused path (no seqQ x seqK array).
    const { output: attn, weights } = needWeights
      ? scaledDotProductAttention(q, k, v, { ...attnOpts, returnWeights: true })
      : { output: scaledDotProductAttention(q, k, v, { ...attnOpts, returnWeights: false }), weights: null };
    // [batch, heads, seqQ, headDim] -> [batch, seqQ, heads * headDim]
    const merged = attn.transpose(1, 2).reshape([batch, seqQ, H * D]);
    const output = this.out.forward(merged);
    if (weights === null) return { output, weights: null };
    return { output, weights: averageWeights ? weights.mean(1) : weights };
  }

  /**
   * A MultiHeadAttention holding the weights of a `torch.nn.MultiheadAttention` state dict.
   *
   * PyTorch packs the input projections as `in_proj_weight` [3E, E] (rows q, k, v) and `in_proj_bias` [3E]
   * when kdim == vdim == embed_dim, or `q_proj_weight` [E, E], `k_proj_weight` [E, kdim], `v_proj_weight`
   * [E, vdim] otherwise; the output projection is `out_proj.weight` / `out_proj.bias`. `add_bias_kv`
   * (`bias_k`, `bias_v`) has no counterpart here and is refused. Give `batch_first=True` inputs to forward.
   * Shapes are checked against E (from `out_proj.weight`), and the state must hold both `in_proj_bias` and
   * `out_proj.bias` (bias=True) or neither (bias=False); errors name the torch key.
   */
  static fromTorchState(
    state: Map<string, Tensor> | Record<string, Tensor>,
    opts: { numHeads: number; dropout?: number; generator?: Generator },
  ): MultiHeadAttention {
    const name = 'MultiHeadAttention.fromTorchState';
    const src = state instanceof Map ? state : new Map(Object.entries(state));
    const get = (key: string): Tensor | undefined => src.get(key);
    const need = (key: string): Tensor => {
      const t = get(key);
      if (t === undefined) throw new Error(`${name}: missing '${key}' (have ${[...src.keys()].join(', ')})`);
      return t;
    };
    if (get('bias_k') !== undefined || get('bias_v') !== undefined) {
      throw new Error(`${name}: add_bias_kv (bias_k, bias_v) is not supported`);
    }
    const outW = need('out_proj.weight');
    if (outW.ndim !== 2 || outW.shape[0] !== outW.shape[1]) {
      throw new ShapeError(`${name}: out_proj.weight must be [E, E] (E = embed_dim), got ${fmt(outW.shape)}`);
    }
    const E = outW.shape[0];
    let wq: Tensor, wk: Tensor, wv: Tensor;
    const packed = get('in_proj_weight');
    if (packed !== undefined) {
      if (packed.ndim !== 2 || packed.shape[0] !== 3 * E || packed.shape[1] !== E) {
        throw new ShapeError(`${name}: in_proj_weight must be [3E, E] = [${3 * E},${E}], got ${fmt(packed.shape)}`);
      }
      [wq, wk, wv] = packed.split(E, 0);
    } else {
      const sep = (['q_proj_weight', 'k_proj_weight', 'v_proj_weight'] as const).map((key) => {
        const t = need(key);
        if (t.ndim !== 2 || t.shape[0] !== E) {
          const cols = key === 'q_proj_weight' ? 'E' : key === 'k_proj_weight' ? 'kdim' : 'vdim';
          throw new ShapeError(`${name}: ${key} must be [E, ${cols}] with E = ${E} (from out_proj.weight ${fmt(outW.shape)}), got ${fmt(t.shape)}`);
        }
        return t;
      });
      [wq, wk, wv] = sep;
      if (wq.shape[1] !== E) throw new ShapeError(`${name}: q_proj_weight must be [E, E] = [${E},${E}], got ${fmt(wq.shape)}`);
    }
    // PyTorch has both biases (bias=True) or neither (bias=False); one without the other is a broken state.
    const inBias = get('in_proj_bias');
    const outBias = get('out_proj.bias');
    if ((inBias === undefined) !== (outBias === undefined)) {
      const [have, miss] = inBias !== undefined ? ['in_proj_bias', 'out_proj.bias'] : ['out_proj.bias', 'in_proj_bias'];
      throw new Error(`${name}: missing '${miss}': the state has '${have}', and torch.nn.MultiheadAttention has both biases (bias=True) or neither (bias=False) (have ${[...src.keys()].join(', ')})`);
    }
    if (inBias !== undefined && (inBias.ndim !== 1 || inBias.shape[0] !== 3 * E)) {
      throw new ShapeError(`${name}: in_proj_bias must be [3E] = [${3 * E}], got ${fmt(inBias.shape)}`);
    }
    if (outBias !== undefined && (outBias.ndim !== 1 || outBias.shape[0] !== E)) {
      throw new ShapeError(`${name}: out_proj.bias must be [E] = [${E}], got ${fmt(outBias.shape)}`);
    }
    const hasBias = inBias !== undefined;
    const mha = new MultiHeadAttention({
      embedDim: E,
      numHeads: opts.numHeads,
      kDim: wk.shape[1],
      vDim: wv.shape[1],
      bias: hasBias,
      dropout: opts.dropout,
      generator: opts.generator,
    });
    const ours = new Map<string, Tensor>([
      ['q.weight', wq],
      ['k.weight', wk],
      ['v.weight', wv],
      ['out.weight', outW],
    ]);
    if (inBias !== undefined && outBias !== undefined) {
      const [bq, bk, bv] = inBias.split(E, 0);
      ours.set('q.bias', bq).set('k.bias', bk).set('v.bias', bv).set('out.bias', outBias);
    }
    mha.loadStateDict(ours);
    return mha;
  }
}
