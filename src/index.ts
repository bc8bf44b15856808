/**
 * qkv: self-attention and transformers from the tensor up.
 * The data path reads top to bottom: tokens -> embeddings -> attention blocks -> logits -> loss or samples.
 */
import './ops/methods.js';

export { Tensor, noGrad, isGradEnabled, type DType, type NestedArray } from './tensor/tensor.js';
export { Generator, manualSeed, globalGenerator } from './tensor/random.js';
export { ShapeError, type Shape } from './tensor/shape.js';
export { backend, setBackend, registerBackend, listBackends, type Backend } from './backend/backend.js';

export * from './ops/elementwise.js';
export { matmul, type MatmulOptions } from './ops/matmul.js';
export * from './ops/reduce.js';
export * from './ops/shape.js';
export * from './ops/nn.js';

export { Module } from './nn/module.js';
export { Linear, type LinearOptions } from './nn/linear.js';
export {
  TransformerEncoderLayer,
  TransformerEncoder,
  type TransformerLayerOptions,
  type TransformerEncoderOptions,
  type TransformerActivation,
  type EncoderLayerForwardOptions,
  type EncoderLayerOutput,
  type EncoderStackOutput,
} from './nn/transformer-encoder-layer.js';
export {
  TransformerDecoderLayer,
  TransformerDecoder,
  type TransformerDecoderOptions,
  type DecoderLayerForwardOptions,
  type DecoderLayerOutput,
  type DecoderStackOutput,
} from './nn/transformer-decoder-layer.js';

export {
  causalMask,
  slidingWindowMask,
  paddingMask,
  combineMasks,
  invertMask,
  blockSparseMask,
  type MaskAlign,
} from './attention/masks.js';
export { scaledDotProductAttention, type AttentionOptions, type AttentionResult } from './attention/sdpa.js';
export {
  MultiHeadAttention,
  type MultiHeadAttentionOptions,
  type MultiHeadAttentionForwardOptions,
  type MultiHeadAttentionOutput,
  type RotaryHook,
} from './attention/multi-head-attention.js';

export { Embedding, type EmbeddingOptions } from './nn/embedding.js';
export { LayerNorm, type LayerNormOptions } from './nn/layer-norm.js';
export { RMSNorm, type RMSNormOptions } from './nn/rms-norm.js';
export { Dropout, type DropoutOptions } from './nn/dropout.js';
export { MLP, type MLPOptions, type MLPActivation } from './nn/mlp.js';

export {
  Optimizer,
  weightDecayGroups,
  type GroupOptions,
  type ParamGroup,
  type ParamGroupSpec,
  type Params,
  type ParamState,
  type OptimizerStateDict,
} from './optim/optimizer.js';
export { SGD, type SGDOptions } from './optim/sgd.js';
export { AdamW, type AdamWOptions } from './optim/adamw.js';
export { clipGradNorm } from './optim/clip.js';

export { sinusoidalEncoding, SinusoidalPositionalEncoding, type SinusoidalOptions, type SinusoidalPositionalEncodingOptions } from './positional/sinusoidal.js';
export { LearnedPositionalEmbedding, type LearnedPositionalEmbeddingOptions } from './positional/learned.js';
export { ropeFrequencies, applyRope, type RopeFrequencyOptions, type RopeTables, type ApplyRopeOptions } from './positional/rope.js';
export { alibiSlopes, alibiBias, type AlibiBiasOptions } from './positional/alibi.js';

export {
  ReversalTransformer,
  trainReversal,
  evaluateReversal,
  reversalBatch,
  tokenAccuracy,
  DEFAULT_REVERSAL,
  type ReversalConfig,
  type ReversalResult,
} from './tasks/reversal.js';
