/**
 * A GPT: a decoder-only transformer, as nanoGPT's model.py.
 *
 *   x0      = wte[idx] + wpe[pos]                       (gpt2; llama has no wpe and rotates q, k instead)
 *   x_{l+½} = x_l + c_proj(attention(ln_1(x_l)))        causal self-attention, pre-norm
 *   x_{l+1} = x_{l+½} + mlp(ln_2(x_{l+½}))
 *   logits  = ln_f(x_L) wteᵀ                            the LM head shares wte (weight tying)
 *
 * Parameter names are nanoGPT's (`transformer.h.0.attn.c_attn.weight`), so a nanoGPT state dict loads as
 * it is, and GPT-2's Hugging Face names map onto them one to one (see gpt2-hf.ts).
 */
import { Tensor } from '../tensor/tensor.js';
import { Generator, globalGenerator } from '../tensor/random.js';
import { fmt, ShapeError } from '../tensor/shape.js';
import { add, gelu, mul, silu } from '../ops/elementwise.js';
import { reshape, permute, split, slice } from '../ops/shape.js';
import { crossEntropy } from '../ops/nn.js';
import { matmul } from '../ops/matmul.js';
import { scaledDotProductAttention } from '../attention/sdpa.js';
import { applyRope, ropeFrequencies, type RopeTables } from '../positional/rope.js';
import { Module } from '../nn/module.js';
import { Linear } from '../nn/linear.js';
import { Embedding } from '../nn/embedding.js';
import { LayerNorm } from '../nn/layer-norm.js';
import { RMSNorm } from '../nn/rms-norm.js';
import { Dropout } from '../nn/dropout.js';
import { resolveGPTConfig, type GPTConfig, type GPTConfigInput } from './gpt-config.js';
import { KVCache } from './kv-cache.js';

function norm(c: GPTConfig): LayerNorm | RMSNorm {
  return c.arch === 'gpt2' ? new LayerNorm(c.nEmbd, { bias: c.bias, eps: c.normEps }) : new RMSNorm(c.nEmbd, { eps: c.normEps });
}

/** Causal self-attention: one fused q/k/v projection, heads in parallel, an output projection. */
export class CausalSelfAttention extends Module {
  /** c_attn: [(nHead + 2·nKVHead)·headDim, C]: the q, k and v projections stacked (nanoGPT's layout). */
  c_attn: Linear;
  /** c_proj: [C, C], the output projection (a residual projection: scaled init). */
  c_proj: Linear;
  resid_dropout: Dropout;
  readonly headDim: number;

  constructor(readonly config: GPTConfig, g: Generator) {
    super();
    const { nEmbd, nHead, nKVHead, bias, dropout } = config;
    this.headDim = nEmbd / nHead;
    this.c_attn = new Linear(nEmbd, (nHead + 2 * nKVHead) * this.headDim, { bias, generator: g });
    this.c_proj = new Linear(nEmbd, nEmbd, { bias, generator: g });
    this.resid_dropout = new Dropout(dropout, { generator: g });
  }

  /**
   * x: [B, T, C] -> [B, T, C]. With `cache`, x holds the T newest tokens at positions cache.length.. and
   * attends to the cached keys too (bottom-right causal alignment). `rope` rotates q and k (llama).
   */
  forward(x: Tensor, layer: number, opts: { cache?: KVCache; rope?: RopeTables; pos0: number; generator: Generator }): Tensor {
    const [B, T, C] = x.shape;
    const { nHead, nKVHead } = this.config;
    const hd = this.headDim;
    const [q0, k0, v0] = split(this.c_attn.forward(x), [nHead * hd, nKVHead * hd, nKVHead * hd], 2);
    const heads = (t: Tensor, h: number): Tensor => permute(reshape(t, [B, T, h, hd]), [0, 2, 1, 3]); // [B, h, T, hd]
    let q = heads(q0, nHead);
    let k = heads(k0, nKVHead);
    let v = heads(v0, nKVHead);
    if (opts.rope) {
      q = applyRope(q, opts.rope.cos, opts.rope.sin, { offset: opts.pos0 });
      k = applyRope(k, opts.rope.cos, opts.rope.sin, { offset: opts.pos0 });
    }
    if (opts.cache) ({ k, v } = opts.cache.append(layer, k, v));
    const p = this.training ? this.config.dropout : 0;
    const y = scaledDotProductAttention(q, k, v, { causal: 'bottom-right', dropout: p, generator: opts.generator });
    return this.resid_dropout.forward(this.c_proj.forward(reshape(permute(y, [0, 2, 1, 3]), [B, T, C])));
  }
}

/** The feed-forward network: GELU (gpt2) or SwiGLU (llama). */
export class GPTMLP extends Module {
  /** c_fc: [ffnHidden, C] (llama: the gate projection). */
  c_fc: Linear;
  /** c_up: [ffnHidden, C], llama's up projection; null for gpt2. */
  c_up: Linear | null;
  /** c_proj: [C, ffnHidden] (a residual projection: scaled init). */
  c_proj: Linear;
  dropout: Dropout;

  constructor(readonly config: GPTConfig, g: Generator) {
    super();
    const { nEmbd, ffnHidden, bias, dropout, arch } = config;
    this.c_fc = new Linear(nEmbd, ffnHidden, { bias, generator: g });
    this.c_up = arch === 'llama' ? new Linear(nEmbd, ffnHidden, { bias, generator: g }) : null;
    this.c_proj = new Linear(ffnHidden, nEmbd, { bias, generator: g });
    this.dropout = new Dropout(dropout, { generator: g });
  }

  /** x: [B, T, C] -> [B, T, C]. */
  forward(x: Tensor): Tensor {
    const h = this.c_up
      ? mul(silu(this.c_fc.forward(x)), this.c_up.forward(x))
      : gelu(this.c_fc.forward(x), { approximate: this.config.activation === 'gelu_tanh' ? 'tanh' : 'none' });
    return this.dropout.forward(this.c_proj.forward(h));
  }
}

/** One pre-norm transformer block. */
export class Block extends Module {
  ln_1: LayerNorm | RMSNorm;
  attn: CausalSelfAttention;
  ln_2: LayerNorm | RMSNorm;
  mlp: GPTMLP;

  constructor(config: GPTConfig, g: Generator) {
    super();
    this.ln_1 = norm(config);
    this.attn = new CausalSelfAttention(config, g);
    this.ln_2 = norm(config);
    this.mlp = new GPTMLP(config, g);
  }

  /** x: [B, T, C] -> [B, T, C]. */
  forward(x: Tensor, layer: number, opts: { cache?: KVCache; rope?: RopeTables; pos0: number; generator: Generator }): Tensor {
    x = add(x, this.attn.forward(this.ln_1.forward(x), layer, opts));
    return add(x, this.mlp.forward(this.ln_2.forward(x)));
  }
}

/** The trunk, under nanoGPT's name `transformer`. */
export class GPTTrunk extends Module {
  wte: Embedding;
  /** Learned positions (gpt2); null for llama, which uses RoPE. */
  wpe: Embedding | null;
  drop: Dropout;
  h: Block[];
  ln_f: LayerNorm | RMSNorm;

  constructor(config: GPTConfig, g: Generator) {
    super();
    this.wte = new Embedding(config.vocabSize, config.nEmbd, { generator: g });
    this.wpe = config.arch === 'gpt2' ? new Embedding(config.blockSize, config.nEmbd, { generator: g }) : null;
    this.drop = new Dropout(config.dropout, { generator: g });
    this.h = Array.from({ length: config.nLayer }, () => new Block(config, g));
    this.ln_f = norm(config);
  }
}

export interface GPTForwardOptions {
  /** Next-token targets [B, T]; when given, `loss` is their mean cross-entropy. Entries of -1 are ignored. */
  targets?: Tensor;
  /** A KV cache: idx holds only the new tokens, placed after the cached ones. */
  cache?: KVCache;
  /** Compute logits for the last position only ([B, 1, V]): what generation needs, a V-times smaller head. */
  lastOnly?: boolean;
}

export class GPT extends Module {
  readonly config: GPTConfig;
  transformer: GPTTrunk;
  /** lm_head: [V, C]; with tieWeights its weight *is* transformer.wte.weight (one tensor, two names). */
  lm_head: Linear;
  /** Dropout (and init) draw from this generator; checkpoints save its state for exact resume. */
  readonly generator: Generator;
  private rope: RopeTables | undefined;

  /**
   * A fresh GPT initialised as GPT-2 / nanoGPT: every Linear and Embedding weight N(0, 0.02), biases 0,
   * norms 1, and the residual projections (attn.c_proj, mlp.c_proj) N(0, 0.02 / sqrt(2 · nLayer)).
   */
  constructor(config: GPTConfigInput | GPTConfig, opts: { generator?: Generator } = {}) {
    super();
    this.notState('config', 'generator', 'rope');
    const c = resolveGPTConfig(config);
    this.config = c;
    this.generator = opts.generator ?? globalGenerator();
    const g = this.generator;
    this.transformer = new GPTTrunk(c, g);
    this.lm_head = new Linear(c.nEmbd, c.vocabSize, { bias: false, generator: g });
    if (c.tieWeights) this.lm_head.weight = this.transformer.wte.weight;
    const residStd = 0.02 / Math.sqrt(2 * c.nLayer);
    for (const [name, t] of this.namedParameters()) {
      const d = t.data;
      if (/\.(ln_1|ln_2|ln_f)\.weight$/.test(name)) continue; // norms keep their ones
      if (name.endsWith('.bias')) d.fill(0);
      else if (name.endsWith('c_proj.weight')) for (let i = 0; i < d.length; i++) d[i] = g.normal() * residStd;
      else for (let i = 0; i < d.length; i++) d[i] = g.normal() * 0.02;
    }
    if (c.arch === 'llama') this.rope = ropeFrequencies(c.blockSize, c.nEmbd / c.nHead, { base: c.ropeTheta });
  }

  /** Parameters, counting a tied matrix once; without the position table when `nonEmbedding` (nanoGPT's count). */
  countParameters(nonEmbedding = true): number {
    const n = this.numParameters();
    return nonEmbedding && this.transformer.wpe ? n - this.transformer.wpe.weight.size : n;
  }

  /**
   * idx: [B, T] token ids -> { logits: [B, T, V] ([B, 1, V] with lastOnly), loss (a scalar, with targets) }.
   * T (plus the cached tokens) may not exceed blockSize: the error says so; generation crops for you.
   */
  forward(idx: Tensor, opts: GPTForwardOptions = {}): { logits: Tensor; loss: Tensor | null } {
    const c = this.config;
    if (idx.ndim !== 2) throw new ShapeError(`GPT.forward: idx must be [batch, seq] token ids, got ${fmt(idx.shape)}`);
    const [B, T] = idx.shape;
    const pos0 = opts.cache ? opts.cache.length : 0;
    if (T === 0) throw new ShapeError('GPT.forward: idx has no tokens (seq 0)');
    if (pos0 + T > c.blockSize) {
      throw new ShapeError(
        `GPT.forward: ${pos0 ? `${pos0} cached + ` : ''}${T} tokens exceed the model's context (blockSize ${c.blockSize}); crop the input to the last ${c.blockSize} tokens`,
      );
    }
    if (opts.cache && opts.cache.nLayer !== c.nLayer) throw new ShapeError(`GPT.forward: the KV cache has ${opts.cache.nLayer} layers, the model ${c.nLayer}`);
    const tr = this.transformer;
    let x = tr.wte.forward(idx);
    if (tr.wpe) {
      const pos = Tensor.arange(pos0, pos0 + T);
      x = add(x, tr.wpe.forward(pos)); // [B, T, C] + [T, C]
    }
    x = tr.drop.forward(x);
    const blockOpts = { cache: opts.cache, rope: this.rope, pos0, generator: this.generator };
    tr.h.forEach((block, l) => {
      x = block.forward(x, l, blockOpts);
    });
    x = tr.ln_f.forward(x);
    if (opts.lastOnly && T > 1) x = slice(x, 1, T - 1, T);
    const logits = matmul(x, this.lm_head.weight, { transB: true });
    let loss: Tensor | null = null;
    if (opts.targets) {
      if (opts.lastOnly) throw new ShapeError('GPT.forward: targets need the logits of every position; do not combine them with lastOnly');
      if (opts.targets.shape.join() !== idx.shape.join()) throw new ShapeError(`GPT.forward: targets ${fmt(opts.targets.shape)} must have idx's shape ${fmt(idx.shape)}`);
      loss = crossEntropy(logits, opts.targets, { ignoreIndex: -1 });
    }
    return { logits, loss };
  }

  /** A fresh KV cache sized for this model. */
  newCache(): KVCache {
    return new KVCache(this.config.nLayer);
  }
}
