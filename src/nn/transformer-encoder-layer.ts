/**
 * The transformer encoder block of "Attention Is All You Need", as `torch.nn.TransformerEncoderLayer`
 * with `batch_first=True`, and a stack of them, as `torch.nn.TransformerEncoder`.
 *
 * One layer is two residual sub-blocks, self-attention then a position-wise feed-forward network:
 *
 * ```
 * post-norm (normFirst: false, the paper's and PyTorch's default):
 *   x = norm1(x + dropout1(selfAttn(x, x, x)))
 *   x = norm2(x + dropout2(linear2(dropout(act(linear1(x))))))
 * pre-norm (normFirst: true, GPT-2's arrangement, which trains more stably when deep):
 *   x = x + dropout1(selfAttn(norm1(x)))
 *   x = x + dropout2(linear2(dropout(act(linear1(norm2(x))))))
 * ```
 *
 * Children carry PyTorch's names in camelCase (selfAttn, linear1, dropout, linear2, norm1, norm2,
 * dropout1, dropout2), so a PyTorch state dict maps over name by name, except that PyTorch packs the
 * query, key and value projections into one `in_proj_weight` [3 dModel, dModel], which qkv keeps as
 * three Linears `selfAttn.q`, `selfAttn.k`, `selfAttn.v` (split it in three along the rows), and names
 * `out_proj` `out`.
 */
import type { Tensor } from '../tensor/tensor.js';
import { Module } from './module.js';
import { Linear } from './linear.js';
import { LayerNorm } from './layer-norm.js';
import { Dropout } from './dropout.js';
import { MultiHeadAttention } from '../attention/multi-head-attention.js';
import { checkTokens, feedForward, residual, resolveLayerOptions, resolveStack, type TransformerActivation, type TransformerLayerOptions } from './transformer-sublayers.js';

export type { TransformerActivation, TransformerLayerOptions } from './transformer-sublayers.js';

/** Self-attention options of an encoder layer's forward. */
export interface EncoderLayerForwardOptions {
  /**
   * Attention mask, broadcastable to [batch, nHead, seq, seq] (typically [seq, seq]): bool with
   * true = may attend (the opposite of PyTorch's bool `src_mask`; see `invertMask`), or float, added to
   * the attention scores (as PyTorch's float `src_mask`; -Infinity forbids).
   */
  mask?: Tensor;
  /**
   * Key mask: bool [batch, seq], true = a real token that may be attended, false = padding. The opposite
   * of PyTorch's `src_key_padding_mask` (true = padding): convert one with `invertMask`.
   */
  keyMask?: Tensor;
  /** Each position attends only to itself and earlier positions (combined with mask and keyMask). */
  causal?: boolean;
  /** Return the self-attention weights too (see the `forward` overloads). Default false. */
  needWeights?: boolean;
  /** With needWeights: average the weights over heads (default true, as PyTorch) or keep one table per head. */
  averageWeights?: boolean;
}

/** What `forward(..., { needWeights: true })` returns. */
export interface EncoderLayerOutput {
  /** [batch, seq, dModel]. */
  output: Tensor;
  /** Self-attention weights: [batch, seq, seq] averaged over heads, or [batch, nHead, seq, seq] with averageWeights: false. */
  weights: Tensor;
}

export class TransformerEncoderLayer extends Module {
  /** Multi-head self-attention: Linears q, k, v, out, each [dModel, dModel]. */
  selfAttn: MultiHeadAttention;
  /** linear1: Linear(dModel, dimFeedforward). */
  linear1: Linear;
  /** Dropout inside the feed-forward network, after the activation. */
  dropout: Dropout;
  /** linear2: Linear(dimFeedforward, dModel). */
  linear2: Linear;
  /** LayerNorm(dModel) of the self-attention sub-block. */
  norm1: LayerNorm;
  /** LayerNorm(dModel) of the feed-forward sub-block. */
  norm2: LayerNorm;
  /** Dropout on the self-attention output, before the residual add. */
  dropout1: Dropout;
  /** Dropout on the feed-forward output, before the residual add. */
  dropout2: Dropout;

  readonly dModel: number;
  readonly nHead: number;
  readonly dimFeedforward: number;
  readonly activation: TransformerActivation;
  readonly normFirst: boolean;

  constructor(opts: TransformerLayerOptions) {
    super();
    const o = resolveLayerOptions('TransformerEncoderLayer', opts);
    const g = opts.generator;
    this.dModel = o.dModel;
    this.nHead = o.nHead;
    this.dimFeedforward = o.dimFeedforward;
    this.activation = o.activation;
    this.normFirst = o.normFirst;
    // State-dict order is the fields' declaration order above (assigned here in the same order): PyTorch's (self_attn, linear1, dropout, linear2, norm1, norm2, ...).
    this.selfAttn = new MultiHeadAttention({ embedDim: o.dModel, numHeads: o.nHead, bias: o.bias, dropout: o.dropout, generator: g });
    this.linear1 = new Linear(o.dModel, o.dimFeedforward, { bias: o.bias, generator: g });
    this.dropout = new Dropout(o.dropout, { generator: g });
    this.linear2 = new Linear(o.dimFeedforward, o.dModel, { bias: o.bias, generator: g });
    this.norm1 = new LayerNorm(o.dModel, { eps: o.layerNormEps, bias: o.bias });
    this.norm2 = new LayerNorm(o.dModel, { eps: o.layerNormEps, bias: o.bias });
    this.dropout1 = new Dropout(o.dropout, { generator: g });
    this.dropout2 = new Dropout(o.dropout, { generator: g });
  }

  /**
   * src: [batch, seq, dModel] -> [batch, seq, dModel]. With `needWeights: true`, returns
   * `{ output, weights }` with the self-attention weights ([batch, seq, seq], or
   * [batch, nHead, seq, seq] per head with `averageWeights: false`): the table a demo prints.
   * The return type follows a literal `needWeights`; with a boolean variable it is the union.
   */
  forward(src: Tensor, opts: EncoderLayerForwardOptions & { needWeights: true }): EncoderLayerOutput;
  forward(src: Tensor, opts?: EncoderLayerForwardOptions & { needWeights?: false }): Tensor;
  forward(src: Tensor, opts: EncoderLayerForwardOptions): Tensor | EncoderLayerOutput;
  forward(src: Tensor, opts: EncoderLayerForwardOptions = {}): Tensor | EncoderLayerOutput {
    checkTokens(this.describe(), 'src', src, this.dModel);
    let weights: Tensor | null = null;
    // The self-attention sub-block: attention of x to itself, then dropout1.
    const sa = (x: Tensor): Tensor => {
      const r = this.selfAttn.forward(x, x, x, {
        mask: opts.mask,
        keyMask: opts.keyMask,
        causal: opts.causal,
        needWeights: opts.needWeights ?? false,
        averageWeights: opts.averageWeights ?? true,
      });
      weights = r.weights ?? null;
      return this.dropout1.forward(r.output);
    };
    // The feed-forward sub-block, then dropout2.
    const ff = (x: Tensor): Tensor => this.dropout2.forward(feedForward(this, x));

    let x = residual(this.normFirst, src, this.norm1, sa);
    x = residual(this.normFirst, x, this.norm2, ff);
    if (!opts.needWeights) return x;
    if (weights === null) throw new Error(`${this.describe()}: self-attention returned no weights although needWeights was set`);
    return { output: x, weights };
  }

  private describe(): string {
    return `TransformerEncoderLayer(dModel=${this.dModel}, nHead=${this.nHead})`;
  }
}

/** Options of `TransformerEncoder`: every layer's options, the layer count and the final norm. */
export interface TransformerEncoderOptions extends TransformerLayerOptions {
  /** Number of layers. */
  numLayers: number;
  /**
   * A LayerNorm after the last layer (default false, as PyTorch's `norm=None`). Pre-norm stacks want one:
   * their residual stream is never normalised otherwise (nn.Transformer always adds it).
   */
  finalNorm?: boolean;
}

/** What `TransformerEncoder.forward(..., { needWeights: true })` returns. */
export interface EncoderStackOutput {
  /** [batch, seq, dModel]. */
  output: Tensor;
  /** Each layer's self-attention weights, first layer first (shapes as EncoderLayerOutput.weights). */
  weights: Tensor[];
}

/**
 * A stack of `numLayers` encoder layers and an optional final LayerNorm, as `torch.nn.TransformerEncoder`:
 * state names `layers.0.selfAttn.q.weight`, ..., `norm.weight`. Unlike PyTorch, which deep-copies one
 * layer (so every layer starts with the same weights), each layer is initialised on its own.
 */
export class TransformerEncoder extends Module {
  layers: TransformerEncoderLayer[];
  /** The final LayerNorm(dModel), or null. */
  norm: LayerNorm | null;
  readonly dModel: number;

  constructor(opts: TransformerEncoderOptions) {
    super();
    const { dModel, numLayers, norm } = resolveStack('TransformerEncoder', opts);
    this.dModel = dModel;
    this.layers = Array.from({ length: numLayers }, () => new TransformerEncoderLayer(opts));
    this.norm = norm;
  }

  /** src: [batch, seq, dModel] -> [batch, seq, dModel]; the same masks go to every layer. */
  forward(src: Tensor, opts: EncoderLayerForwardOptions & { needWeights: true }): EncoderStackOutput;
  forward(src: Tensor, opts?: EncoderLayerForwardOptions & { needWeights?: false }): Tensor;
  forward(src: Tensor, opts: EncoderLayerForwardOptions): Tensor | EncoderStackOutput;
  forward(src: Tensor, opts: EncoderLayerForwardOptions = {}): Tensor | EncoderStackOutput {
    let x = src;
    const weights: Tensor[] = [];
    for (const layer of this.layers) {
      if (opts.needWeights) {
        const r = layer.forward(x, { ...opts, needWeights: true });
        x = r.output;
        weights.push(r.weights);
      } else {
        x = layer.forward(x, { ...opts, needWeights: false });
      }
    }
    if (this.norm) x = this.norm.forward(x);
    return opts.needWeights ? { output: x, weights } : x;
  }
}
