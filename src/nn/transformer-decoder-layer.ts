/**
 * The transformer decoder block of "Attention Is All You Need", as `torch.nn.TransformerDecoderLayer`
 * with `batch_first=True`, and a stack of them, as `torch.nn.TransformerDecoder`.
 *
 * One layer is three residual sub-blocks: (usually causal) self-attention over the target, cross-attention
 * from the target to the encoder's output (`memory`), and a position-wise feed-forward network:
 *
 * ```
 * post-norm (normFirst: false, the paper's and PyTorch's default):
 *   x = norm1(x + dropout1(selfAttn(x, x, x)))
 *   x = norm2(x + dropout2(crossAttn(x, memory, memory)))
 *   x = norm3(x + dropout3(linear2(dropout(act(linear1(x))))))
 * pre-norm (normFirst: true):
 *   x = x + dropout1(selfAttn(norm1(x)))
 *   x = x + dropout2(crossAttn(norm2(x), memory, memory))
 *   x = x + dropout3(linear2(dropout(act(linear1(norm3(x))))))
 * ```
 *
 * Memory is never normalised here: with pre-norm the encoder stack's final norm does that.
 * Children carry PyTorch's names in camelCase, except `crossAttn`, which PyTorch calls `multihead_attn`;
 * as in the encoder layer, PyTorch's packed `in_proj_weight` is three Linears q, k, v here and
 * `out_proj` is `out`.
 */
import '../ops/methods.js';
import type { Tensor } from '../tensor/tensor.js';
import { ShapeError, fmt } from '../tensor/shape.js';
import { Module } from './module.js';
import { Linear } from './linear.js';
import { LayerNorm } from './layer-norm.js';
import { Dropout } from './dropout.js';
import { MultiHeadAttention } from '../attention/multi-head-attention.js';
import { checkTokens, feedForward, residual, resolveLayerOptions, resolveStack, type TransformerActivation, type TransformerLayerOptions } from './transformer-sublayers.js';

export interface DecoderLayerForwardOptions {
  /**
   * Self-attention mask, broadcastable to [batch, nHead, seqT, seqT]: bool with true = may attend (the
   * opposite of PyTorch's bool `tgt_mask`), or float, added to the scores (as PyTorch's float `tgt_mask`).
   */
  tgtMask?: Tensor;
  /** Cross-attention mask, broadcastable to [batch, nHead, seqT, seqM]; bool (true = may attend) or float additive. */
  memoryMask?: Tensor;
  /** Target key mask: bool [batch, seqT], true = real token (the opposite of PyTorch's `tgt_key_padding_mask`). */
  tgtKeyMask?: Tensor;
  /** Memory key mask: bool [batch, seqM], true = real token (the opposite of PyTorch's `memory_key_padding_mask`). */
  memoryKeyMask?: Tensor;
  /**
   * Causal self-attention: target position i attends only to positions <= i (what PyTorch expresses with
   * `tgt_mask = generate_square_subsequent_mask(seqT)`). Combined with tgtMask and tgtKeyMask. It does
   * not apply to cross-attention, where every target position may see all of memory.
   */
  causal?: boolean;
  /** Return both attentions' weights too (see the `forward` overloads). Default false. */
  needWeights?: boolean;
  /** With needWeights: average the weights over heads (default true, as PyTorch) or keep one table per head. */
  averageWeights?: boolean;
}

/** What `forward(..., { needWeights: true })` returns. */
export interface DecoderLayerOutput {
  /** [batch, seqT, dModel]. */
  output: Tensor;
  /** Self-attention weights: [batch, seqT, seqT], or [batch, nHead, seqT, seqT] per head. */
  selfWeights: Tensor;
  /** Cross-attention weights: [batch, seqT, seqM], or [batch, nHead, seqT, seqM] per head. */
  crossWeights: Tensor;
}

export class TransformerDecoderLayer extends Module {
  /** Multi-head self-attention over the target: Linears q, k, v, out, each [dModel, dModel]. */
  selfAttn: MultiHeadAttention;
  /** Multi-head cross-attention, queries from the target, keys and values from memory (PyTorch's multihead_attn). */
  crossAttn: MultiHeadAttention;
  /** linear1: Linear(dModel, dimFeedforward). */
  linear1: Linear;
  /** Dropout inside the feed-forward network, after the activation. */
  dropout: Dropout;
  /** linear2: Linear(dimFeedforward, dModel). */
  linear2: Linear;
  /** LayerNorm(dModel) of the self-attention, cross-attention and feed-forward sub-blocks. */
  norm1: LayerNorm;
  norm2: LayerNorm;
  norm3: LayerNorm;
  /** Dropouts on the three sub-blocks' outputs, before the residual adds. */
  dropout1: Dropout;
  dropout2: Dropout;
  dropout3: Dropout;

  readonly dModel: number;
  readonly nHead: number;
  readonly dimFeedforward: number;
  readonly activation: TransformerActivation;
  readonly normFirst: boolean;

  /** Options as TransformerEncoderLayer's (dimFeedforward defaults to 4 * dModel; PyTorch's to 2048). */
  constructor(opts: TransformerLayerOptions) {
    super();
    const o = resolveLayerOptions('TransformerDecoderLayer', opts);
    const g = opts.generator;
    this.dModel = o.dModel;
    this.nHead = o.nHead;
    this.dimFeedforward = o.dimFeedforward;
    this.activation = o.activation;
    this.normFirst = o.normFirst;
    const attn = { embedDim: o.dModel, numHeads: o.nHead, bias: o.bias, dropout: o.dropout, generator: g };
    // State-dict order is the fields' declaration order above (assigned here in the same order): PyTorch's (self_attn, multihead_attn, linear1, dropout, linear2, norm1..3, ...).
    this.selfAttn = new MultiHeadAttention(attn);
    this.crossAttn = new MultiHeadAttention(attn);
    this.linear1 = new Linear(o.dModel, o.dimFeedforward, { bias: o.bias, generator: g });
    this.dropout = new Dropout(o.dropout, { generator: g });
    this.linear2 = new Linear(o.dimFeedforward, o.dModel, { bias: o.bias, generator: g });
    this.norm1 = new LayerNorm(o.dModel, { eps: o.layerNormEps, bias: o.bias });
    this.norm2 = new LayerNorm(o.dModel, { eps: o.layerNormEps, bias: o.bias });
    this.norm3 = new LayerNorm(o.dModel, { eps: o.layerNormEps, bias: o.bias });
    this.dropout1 = new Dropout(o.dropout, { generator: g });
    this.dropout2 = new Dropout(o.dropout, { generator: g });
    this.dropout3 = new Dropout(o.dropout, { generator: g });
  }

  /**
   * tgt: [batch, seqT, dModel], memory: [batch, seqM, dModel] (the encoder's output) -> [batch, seqT, dModel].
   * With `needWeights: true`, returns `{ output, selfWeights, crossWeights }` (the return type follows a
   * literal `needWeights`; with a boolean variable it is the union).
   */
  forward(tgt: Tensor, memory: Tensor, opts: DecoderLayerForwardOptions & { needWeights: true }): DecoderLayerOutput;
  forward(tgt: Tensor, memory: Tensor, opts?: DecoderLayerForwardOptions & { needWeights?: false }): Tensor;
  forward(tgt: Tensor, memory: Tensor, opts: DecoderLayerForwardOptions): Tensor | DecoderLayerOutput;
  forward(tgt: Tensor, memory: Tensor, opts: DecoderLayerForwardOptions = {}): Tensor | DecoderLayerOutput {
    const what = `TransformerDecoderLayer(dModel=${this.dModel}, nHead=${this.nHead})`;
    checkTokens(what, 'tgt', tgt, this.dModel);
    checkTokens(what, 'memory', memory, this.dModel);
    if (memory.shape[0] !== tgt.shape[0]) {
      throw new ShapeError(`${what}: tgt ${fmt(tgt.shape)} and memory ${fmt(memory.shape)} must have the same batch size`);
    }
    const needWeights = opts.needWeights ?? false;
    const averageWeights = opts.averageWeights ?? true;
    let selfWeights: Tensor | null = null;
    let crossWeights: Tensor | null = null;
    // Self-attention sub-block: the target attends to itself (causally, when asked), then dropout1.
    const sa = (x: Tensor): Tensor => {
      const r = this.selfAttn.forward(x, x, x, {
        mask: opts.tgtMask,
        keyMask: opts.tgtKeyMask,
        causal: opts.causal,
        needWeights,
        averageWeights,
      });
      selfWeights = r.weights ?? null;
      return this.dropout1.forward(r.output);
    };
    // Cross-attention sub-block: the target's queries against memory's keys and values, then dropout2.
    const ca = (x: Tensor): Tensor => {
      const r = this.crossAttn.forward(x, memory, memory, {
        mask: opts.memoryMask,
        keyMask: opts.memoryKeyMask,
        needWeights,
        averageWeights,
      });
      crossWeights = r.weights ?? null;
      return this.dropout2.forward(r.output);
    };
    // Feed-forward sub-block, then dropout3.
    const ff = (x: Tensor): Tensor => this.dropout3.forward(feedForward(this, x));

    let x = residual(this.normFirst, tgt, this.norm1, sa);
    x = residual(this.normFirst, x, this.norm2, ca);
    x = residual(this.normFirst, x, this.norm3, ff);
    if (!needWeights) return x;
    if (selfWeights === null || crossWeights === null) throw new Error(`${what}: attention returned no weights although needWeights was set`);
    return { output: x, selfWeights, crossWeights };
  }
}

/** Options of `TransformerDecoder`: every layer's options, the layer count and the final norm. */
export interface TransformerDecoderOptions extends TransformerLayerOptions {
  /** Number of layers. */
  numLayers: number;
  /** A LayerNorm after the last layer (default false, as PyTorch's `norm=None`; pre-norm stacks want one). */
  finalNorm?: boolean;
}

/** What `TransformerDecoder.forward(..., { needWeights: true })` returns. */
export interface DecoderStackOutput {
  /** [batch, seqT, dModel]. */
  output: Tensor;
  /** Each layer's self-attention weights, first layer first. */
  selfWeights: Tensor[];
  /** Each layer's cross-attention weights, first layer first. */
  crossWeights: Tensor[];
}

/**
 * A stack of `numLayers` decoder layers and an optional final LayerNorm, as `torch.nn.TransformerDecoder`:
 * every layer attends to the same memory. State names `layers.0.crossAttn.q.weight`, ..., `norm.weight`.
 * Each layer is initialised on its own (PyTorch deep-copies one layer).
 */
export class TransformerDecoder extends Module {
  layers: TransformerDecoderLayer[];
  /** The final LayerNorm(dModel), or null. */
  norm: LayerNorm | null;
  readonly dModel: number;

  constructor(opts: TransformerDecoderOptions) {
    super();
    const { dModel, numLayers, norm } = resolveStack('TransformerDecoder', opts);
    this.dModel = dModel;
    this.layers = Array.from({ length: numLayers }, () => new TransformerDecoderLayer(opts));
    this.norm = norm;
  }

  /** tgt: [batch, seqT, dModel], memory: [batch, seqM, dModel] -> [batch, seqT, dModel]; the same masks go to every layer. */
  forward(tgt: Tensor, memory: Tensor, opts: DecoderLayerForwardOptions & { needWeights: true }): DecoderStackOutput;
  forward(tgt: Tensor, memory: Tensor, opts?: DecoderLayerForwardOptions & { needWeights?: false }): Tensor;
  forward(tgt: Tensor, memory: Tensor, opts: DecoderLayerForwardOptions): Tensor | DecoderStackOutput;
  forward(tgt: Tensor, memory: Tensor, opts: DecoderLayerForwardOptions = {}): Tensor | DecoderStackOutput {
    let x = tgt;
    const selfWeights: Tensor[] = [];
    const crossWeights: Tensor[] = [];
    for (const layer of this.layers) {
      if (opts.needWeights) {
        const r = layer.forward(x, memory, { ...opts, needWeights: true });
        x = r.output;
        selfWeights.push(r.selfWeights);
        crossWeights.push(r.crossWeights);
      } else {
        x = layer.forward(x, memory, { ...opts, needWeights: false });
      }
    }
    if (this.norm) x = this.norm.forward(x);
    return opts.needWeights ? { output: x, selfWeights, crossWeights } : x;
  }
}
