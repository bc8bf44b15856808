/**
 * What the transformer encoder and decoder layers share: their options, the residual wrapping that
 * makes a layer pre-norm or post-norm, the feed-forward sub-block, and the stacks' final norm.
 */
import '../ops/methods.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Generator } from '../tensor/random.js';
import { fmt, ShapeError } from '../tensor/shape.js';
import { describeValue } from './module.js';
import { applyActivation, resolveActivation } from './mlp.js';
import type { Linear } from './linear.js';
import { LayerNorm } from './layer-norm.js';
import type { Dropout } from './dropout.js';

/** The feed-forward activation: 'relu' (PyTorch's default) or 'gelu', the exact (erf) GELU as PyTorch's 'gelu'. */
export type TransformerActivation = 'relu' | 'gelu';

/** The activations the transformer layers accept (PyTorch's two named ones); the functions are MLP's. */
const LAYER_ACTIVATIONS: readonly TransformerActivation[] = Object.freeze(['relu', 'gelu']);

/** Options shared by encoder and decoder layers (and their stacks). */
export interface TransformerLayerOptions {
  /** Model width: the size of every token's vector. */
  dModel: number;
  /** Attention heads; dModel must be divisible by nHead (each head has dModel / nHead dimensions). */
  nHead: number;
  /**
   * Hidden width of the feed-forward network. Default 4 * dModel, the paper's ratio (512 -> 2048).
   * PyTorch's default is a fixed 2048 whatever d_model is; pass dimFeedforward: 2048 to match it.
   */
  dimFeedforward?: number;
  /**
   * Dropout probability, in [0, 1) (default 0.1, as PyTorch), used everywhere PyTorch uses it: on the
   * attention weights, inside the feed-forward network, and on each sub-block's output before the residual add.
   */
  dropout?: number;
  /** Feed-forward activation (default 'relu', as PyTorch). */
  activation?: TransformerActivation;
  /** LayerNorm epsilon, > 0 (default 1e-5, as PyTorch). */
  layerNormEps?: number;
  /** Pre-norm (true) or post-norm (false, default, as PyTorch): see the module comment. */
  normFirst?: boolean;
  /**
   * Biases in every Linear and LayerNorm (default true). false is PyTorch >= 2.1's `bias=False`, which
   * drops the additive bias of the attention projections, the feed-forward Linears and the LayerNorms.
   */
  bias?: boolean;
  /** Generator for initialisation and dropout masks (default: the global one). */
  generator?: Generator;
}

/** The options resolved to values, with the checks both layer kinds (and their stacks) share. */
export function resolveLayerOptions(what: string, opts: TransformerLayerOptions): Required<Omit<TransformerLayerOptions, 'generator'>> {
  if (typeof opts !== 'object' || opts === null) throw new ShapeError(`${what}: options must be an object like { dModel: 512, nHead: 8 }, got ${describeValue(opts)}`);
  const { dModel, nHead } = opts;
  for (const [name, v] of [['dModel', dModel], ['nHead', nHead]] as const) {
    if (!Number.isInteger(v) || v <= 0) throw new ShapeError(`${what}: ${name} must be a positive integer, got ${describeValue(v)}`);
  }
  if (dModel % nHead !== 0) {
    throw new ShapeError(`${what}: dModel (${dModel}) must be divisible by nHead (${nHead}): each head gets dModel / nHead dimensions`);
  }
  const dimFeedforward = opts.dimFeedforward ?? 4 * dModel;
  if (!Number.isInteger(dimFeedforward) || dimFeedforward <= 0) {
    throw new ShapeError(`${what}: dimFeedforward must be a positive integer, got ${describeValue(dimFeedforward)}`);
  }
  const activation = resolveActivation(what, opts.activation ?? 'relu', LAYER_ACTIVATIONS);
  const dropout = opts.dropout ?? 0.1;
  if (typeof dropout !== 'number' || !(dropout >= 0 && dropout < 1)) {
    throw new ShapeError(`${what}: dropout must be a probability in [0, 1), got ${describeValue(dropout)}`);
  }
  const layerNormEps = opts.layerNormEps ?? 1e-5;
  if (typeof layerNormEps !== 'number' || !(layerNormEps > 0) || !Number.isFinite(layerNormEps)) {
    throw new ShapeError(`${what}: layerNormEps must be a finite number > 0, got ${describeValue(layerNormEps)}`);
  }
  const normFirst = opts.normFirst ?? false;
  const bias = opts.bias ?? true;
  for (const [name, v] of [['normFirst', normFirst], ['bias', bias]] as const) {
    if (typeof v !== 'boolean') throw new ShapeError(`${what}: ${name} must be true or false, got ${describeValue(v)}`);
  }
  return { dModel, nHead, dimFeedforward, dropout, activation, layerNormEps, normFirst, bias };
}

/** Checks x: [batch, seq, dModel]; `what` names the layer and `name` the argument in the error. */
export function checkTokens(what: string, name: string, x: Tensor, dModel: number): void {
  if (x.ndim !== 3 || x.shape[2] !== dModel) {
    throw new ShapeError(`${what}: ${name} ${fmt(x.shape)} must be [batch, seq, ${dModel}] (dModel = ${dModel})`);
  }
}

/**
 * One residual sub-block around `sublayer`:
 * pre-norm  x + sublayer(norm(x))   (normFirst: true)
 * post-norm norm(x + sublayer(x))   (normFirst: false, the paper's and PyTorch's default)
 */
export function residual(normFirst: boolean, x: Tensor, norm: LayerNorm, sublayer: (x: Tensor) => Tensor): Tensor {
  return normFirst ? x.add(sublayer(norm.forward(x))) : norm.forward(x.add(sublayer(x)));
}

/** The feed-forward parts of a layer, under PyTorch's names. */
export interface FeedForwardParts {
  linear1: Linear;
  dropout: Dropout;
  linear2: Linear;
  activation: TransformerActivation;
}

/** The position-wise feed-forward network: linear2(dropout(act(linear1(x)))), x: [batch, seq, dModel]. */
export function feedForward(layer: FeedForwardParts, x: Tensor): Tensor {
  return layer.linear2.forward(layer.dropout.forward(applyActivation(layer.activation, layer.linear1.forward(x))));
}

/** A stack's checked layer count and its final LayerNorm (or null), as `nn.TransformerEncoder`/`Decoder`'s `norm`. */
export function resolveStack(
  what: string,
  opts: TransformerLayerOptions & { numLayers: number; finalNorm?: boolean },
): { dModel: number; numLayers: number; norm: LayerNorm | null } {
  if (!Number.isInteger(opts.numLayers) || opts.numLayers <= 0) {
    throw new ShapeError(`${what}: numLayers must be a positive integer, got ${opts.numLayers}`);
  }
  const o = resolveLayerOptions(what, opts);
  const norm = opts.finalNorm ? new LayerNorm(o.dModel, { eps: o.layerNormEps, bias: o.bias }) : null;
  return { dModel: o.dModel, numLayers: opts.numLayers, norm };
}
