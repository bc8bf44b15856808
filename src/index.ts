/**
 * qkv: self-attention and transformers from the tensor up.
 * The data path reads top to bottom: tokens -> embeddings -> attention blocks -> logits -> loss or samples.
 */
import './ops/methods.js';

export { Tensor, noGrad, isGradEnabled, type DType, type NestedArray } from './tensor/tensor.js';
export { Generator, manualSeed, globalGenerator } from './tensor/random.js';
export { ShapeError, type Shape } from './tensor/shape.js';
export { backend, setBackend, registerBackend, listBackends, type Backend } from './backend/backend.js';
// Registering is all importing does: 'reference' stays selected until setBackend('wasm') or setBackend('js').
export { registerJsBackend } from './backend/js/index.js';
export { registerWasmBackend, configureWasm, initWasm, wasmInfo, stopWasmWorkers, enableRelaxedSimdFlag, type WasmOptions } from './backend/wasm/index.js';

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

// GPT: text -> tokens -> model -> loss or samples
export { CharTokenizer } from './tokenizers/char.js';
export { Gpt2Tokenizer, GPT2_VOCAB_SIZE, GPT2_EOT_ID } from './tokenizers/gpt2.js';
export { tokenizerFromJSON, StreamDecoder, type Tokenizer, type TokenizerJSON } from './tokenizers/tokenizer.js';
export { readTextFiles } from './data/text-files.js';
export { loadBrownCorpus } from './data/brown.js';
export { splitTokens, sampleBatch } from './data/batches.js';
export { GPT, Block, CausalSelfAttention, GPTMLP, type GPTForwardOptions } from './models/gpt.js';
export { resolveGPTConfig, GPT_DEFAULTS, type GPTConfig, type GPTConfigInput } from './models/gpt-config.js';
export { KVCache } from './models/kv-cache.js';
export { loadHFGpt2, gptConfigFromHF } from './models/gpt2-hf.js';
export { train, estimateLoss, lossCurveSvg, type TrainEvents, type TrainResult, type TrainHistory, type EvalPoint } from './train/trainer.js';
export { TRAIN_DEFAULTS, resolveTrainOptions, type TrainOptions } from './train/train-options.js';
export { learningRateAt, type LrSchedule } from './train/lr-schedule.js';
export { loadCheckpoint, saveModelWeights, saveModelConfig, modelTensors } from './train/checkpoint.js';
export { generate, generateAsync, logitsStepper, type GenerateOptions, type GenerateResult } from './generate/generate.js';
export { sampleToken, type SamplingOptions } from './generate/sampling.js';
export { readSafetensors, writeSafetensors, parseSafetensors, serializeSafetensors, type SafeTensor } from './io/safetensors.js';
export { FileFormatError } from './io/file-format-error.js';
