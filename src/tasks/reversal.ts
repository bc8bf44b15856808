/**
 * The sequence-reversal task: given n random tokens, output them in reverse order. A bidirectional
 * transformer solves it by attending from position i to position n-1-i, so a trained head's weights
 * form the anti-diagonal: a picture of attention learning an alignment.
 *
 * The data path: tokens [batch, n] -> token + learned position embeddings [batch, n, d] -> encoder
 * layers (bidirectional self-attention, MLP, residuals, pre-norm) -> layer norm -> logits [batch, n, vocab]
 * -> cross-entropy against the reversed tokens.
 */
import '../ops/methods.js';
import { Tensor, noGrad } from '../tensor/tensor.js';
import { Generator } from '../tensor/random.js';
import { crossEntropy } from '../ops/nn.js';
import { Module } from '../nn/module.js';
import { Linear } from '../nn/linear.js';
import { Embedding } from '../nn/embedding.js';
import { LayerNorm } from '../nn/layer-norm.js';
import { LearnedPositionalEmbedding } from '../positional/learned.js';
import { TransformerEncoderLayer } from '../nn/transformer-encoder-layer.js';
import { AdamW } from '../optim/adamw.js';
import { weightDecayGroups } from '../optim/optimizer.js';
import { clipGradNorm } from '../optim/clip.js';

export interface ReversalConfig {
  /** Tokens per sequence. */
  length: number;
  /** Distinct tokens (0..vocab-1). */
  vocab: number;
  dModel: number;
  heads: number;
  layers: number;
  /** Hidden size of each MLP. */
  ff: number;
  batch: number;
  steps: number;
  lr: number;
  seed: number;
}

export const DEFAULT_REVERSAL: ReversalConfig = {
  length: 8,
  vocab: 10,
  dModel: 32,
  heads: 2,
  layers: 2,
  ff: 64,
  batch: 64,
  steps: 400,
  lr: 1e-2,
  seed: 0,
};

/** A bidirectional transformer that maps each position to a token: [batch, n] -> [batch, n, vocab]. */
export class ReversalTransformer extends Module {
  tok: Embedding;
  pos: LearnedPositionalEmbedding;
  blocks: TransformerEncoderLayer[];
  norm: LayerNorm;
  head: Linear;

  constructor(readonly config: ReversalConfig, generator: Generator) {
    super();
    const { vocab, length, dModel, heads, layers, ff } = config;
    this.tok = new Embedding(vocab, dModel, { generator });
    this.pos = new LearnedPositionalEmbedding(length, dModel, { generator });
    this.blocks = Array.from(
      { length: layers },
      () => new TransformerEncoderLayer({ dModel, nHead: heads, dimFeedforward: ff, dropout: 0, activation: 'gelu', normFirst: true, generator }),
    );
    this.norm = new LayerNorm(dModel);
    this.head = new Linear(dModel, vocab, { generator });
  }

  /**
   * tokens: [batch, n] -> logits [batch, n, vocab]; with `needWeights`, also each layer's attention
   * weights per head, [batch, heads, n, n].
   */
  forward(tokens: Tensor, opts: { needWeights?: boolean } = {}): { logits: Tensor; weights: Tensor[] } {
    let x = this.pos.forward(this.tok.forward(tokens)); // [batch, n, d]
    const weights: Tensor[] = [];
    for (const block of this.blocks) {
      if (opts.needWeights) {
        const r = block.forward(x, { needWeights: true, averageWeights: false });
        x = r.output;
        weights.push(r.weights);
      } else x = block.forward(x);
    }
    return { logits: this.head.forward(this.norm.forward(x)), weights };
  }
}

/** A batch of random sequences and their reversals: both [batch, n]. */
export function reversalBatch(config: Pick<ReversalConfig, 'length' | 'vocab'>, batch: number, g: Generator): { x: Tensor; y: Tensor } {
  const { length, vocab } = config;
  const x = new Float32Array(batch * length);
  const y = new Float32Array(batch * length);
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < length; i++) x[b * length + i] = g.int(0, vocab);
    for (let i = 0; i < length; i++) y[b * length + i] = x[b * length + length - 1 - i];
  }
  return { x: new Tensor(x, [batch, length]), y: new Tensor(y, [batch, length]) };
}

/** Fraction of positions where the model's most likely token is the target. */
export function tokenAccuracy(logits: Tensor, targets: Tensor): number {
  const pred = logits.argmax(-1);
  let right = 0;
  for (let i = 0; i < pred.size; i++) if (pred.data[i] === targets.data[i]) right++;
  return right / pred.size;
}

export interface StepInfo {
  step: number;
  loss: number;
  accuracy: number;
  examples: number;
  lr: number;
}

export interface ReversalResult {
  model: ReversalTransformer;
  /** Token accuracy on `evalExamples` fresh sequences the model never saw. */
  accuracy: number;
  evalExamples: number;
  finalLoss: number;
  seconds: number;
}

const UINT32_MAX = 2 ** 32 - 1;

/** Checks a config, with an error that names the field and what was expected. */
export function checkReversalConfig(config: ReversalConfig): void {
  const mins: Record<string, number> = { length: 2, vocab: 2, dModel: 1, heads: 1, layers: 1, ff: 1, batch: 1, steps: 1, seed: 0 };
  for (const [key, min] of Object.entries(mins)) {
    const v = config[key as keyof ReversalConfig];
    const max = key === 'seed' ? UINT32_MAX : Number.MAX_SAFE_INTEGER;
    if (!Number.isInteger(v) || v < min || v > max) throw new RangeError(`reversal config: ${key} must be an integer in [${min}, ${max}], got ${v}`);
  }
  if (!(config.lr > 0) || !Number.isFinite(config.lr)) throw new RangeError(`reversal config: lr must be a positive finite number, got ${config.lr}`);
  if (config.dModel % config.heads !== 0) throw new RangeError(`reversal config: dModel ${config.dModel} must be divisible by heads ${config.heads}`);
}

/**
 * Independent random streams for one seed: initialisation, training data, evaluation data and the
 * example shown, each seeded from the seed's own stream (so seed s and s + 1 share none of them).
 */
export function reversalStreams(seed: number): { init: Generator; data: Generator; eval: Generator; example: Generator } {
  const root = new Generator(seed);
  return { init: new Generator(root.nextUint32()), data: new Generator(root.nextUint32()), eval: new Generator(root.nextUint32()), example: new Generator(root.nextUint32()) };
}

/**
 * Trains with AdamW (weight decay on matrices only, as nanoGPT), a short linear warm-up then cosine
 * decay, and gradient clipping at 1. Deterministic for a given config (seeded data and initialisation).
 * A loss that stops being finite (too high a learning rate) ends training with an error, not NaN weights.
 * Async: it yields to the event loop after every step, which is when the wasm backend gets back the
 * memory of the step's garbage tensors (see src/backend/wasm/heap.ts) and when signal handlers run.
 */
export async function trainReversal(config: ReversalConfig, onStep?: (s: StepInfo) => void, evalExamples = 2000): Promise<ReversalResult> {
  checkReversalConfig(config);
  const t0 = performance.now();
  const streams = reversalStreams(config.seed);
  const model = new ReversalTransformer(config, streams.init);
  const opt = new AdamW(weightDecayGroups(model.parameters(), 0.01), { lr: config.lr, betas: [0.9, 0.98] });
  const warmup = Math.max(1, Math.floor(config.steps / 20));
  let loss = NaN;
  for (let step = 1; step <= config.steps; step++) {
    const lr = step <= warmup ? (config.lr * step) / warmup : config.lr * (0.1 + 0.45 * (1 + Math.cos((Math.PI * (step - warmup)) / (config.steps - warmup))));
    for (const g of opt.paramGroups) g.lr = lr;
    const { x, y } = reversalBatch(config, config.batch, streams.data);
    const { logits } = model.forward(x);
    const l = crossEntropy(logits.reshape([-1, config.vocab]), y.reshape([-1]));
    opt.zeroGrad();
    l.backward();
    clipGradNorm(model.parameters(), 1);
    opt.step();
    loss = l.item();
    if (!Number.isFinite(loss)) {
      throw new Error(`training diverged: the loss is ${loss} at step ${step} (learning rate ${lr.toExponential(2)}); try a lower learning rate`);
    }
    onStep?.({ step, loss, accuracy: tokenAccuracy(logits, y), examples: step * config.batch, lr });
    await new Promise((res) => setImmediate(res));
  }
  model.eval();
  const accuracy = evaluateReversal(model, evalExamples, streams.eval);
  return { model, accuracy, evalExamples, finalLoss: loss, seconds: (performance.now() - t0) / 1000 };
}

/** Token accuracy on fresh random sequences, without building a graph. */
export function evaluateReversal(model: ReversalTransformer, examples: number, g: Generator): number {
  return noGrad(() => {
    const { x, y } = reversalBatch(model.config, examples, g);
    return tokenAccuracy(model.forward(x).logits, y);
  });
}
