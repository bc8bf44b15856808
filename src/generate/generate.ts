/**
 * Autoregressive generation: prompt -> tokens -> (model -> next token) repeated -> text, streamed.
 *
 * With the KV cache (default) the prompt is run once and each new token runs alone, attending to the
 * cached keys and values: T new tokens cost T single-token steps. Without it every step re-runs the
 * whole context, as nanoGPT's `generate`. Both crop the context to the last blockSize tokens, so both
 * give the same tokens: once the context is full (learned positions would shift), the cached path
 * re-runs the last blockSize tokens each step, exactly what the uncached path computes.
 */
import { Tensor, noGrad } from '../tensor/tensor.js';
import { Generator } from '../tensor/random.js';
import type { GPT } from '../models/gpt.js';
import type { KVCache } from '../models/kv-cache.js';
import { StreamDecoder, type Tokenizer } from '../tokenizers/tokenizer.js';
import { checkSamplingOptions, sampleToken, type SamplingOptions } from './sampling.js';

export interface GenerateOptions extends SamplingOptions {
  /** Tokens to generate at most (default 200). */
  maxNewTokens?: number;
  /** Seed of the sampling generator (default 1337); or pass `generator`. */
  seed?: number;
  generator?: Generator;
  /** Stop when the generated text contains one of these; it is not included in the result. */
  stop?: readonly string[];
  /** Use the KV cache (default true). */
  cache?: boolean;
  /** Receives the new text as each token is sampled (held back while it could be the start of a stop string). */
  onText?: (text: string) => void;
}

export interface GenerateResult {
  /** The prompt's ids followed by every generated id (including those of a stop string or the end-of-text token). */
  ids: number[];
  /** The generated text only (without the prompt), cut before a stop string. */
  text: string;
  newTokens: number;
  stoppedBy: 'length' | 'stop' | 'eot';
  /** Sampling time (prompt included) and tokens per second over the new tokens. */
  ms: number;
  tokensPerSecond: number;
}

/** The logits of the last position, [V], for `ids` (uncached: the last blockSize of them). */
function lastLogits(model: GPT, ids: readonly number[]): Float32Array {
  const ctx = ids.slice(-model.config.blockSize);
  const x = new Tensor(Float32Array.from(ctx), [1, ctx.length]);
  return model.forward(x, { lastOnly: true }).logits.data as Float32Array;
}

/**
 * The next-token logits after each step, as a step function: `step(ids)` where `ids` is the whole
 * sequence so far. Cached: feeds only the tokens the cache has not seen (rebuilding it when the context
 * has to slide).
 */
export function logitsStepper(model: GPT, useCache: boolean): (ids: readonly number[]) => Float32Array {
  if (!useCache) return (ids) => lastLogits(model, ids);
  const block = model.config.blockSize;
  let cache: KVCache = model.newCache();
  let seen = 0; // ids already in the cache (the cache holds ids[0..seen))
  return (ids) => {
    if (ids.length > block) return lastLogits(model, ids); // full context: slide, as uncached
    if (seen > ids.length) {
      cache = model.newCache();
      seen = 0;
    }
    const fresh = ids.slice(seen);
    const x = new Tensor(Float32Array.from(fresh), [1, fresh.length]);
    const out = model.forward(x, { cache, lastOnly: true }).logits.data as Float32Array;
    seen = ids.length;
    return out;
  };
}

/** Encodes the prompt; an empty prompt starts from the end-of-text token, or a newline, or id 0. */
export function promptIds(tokenizer: Tokenizer, prompt: string): number[] {
  if (prompt !== '') {
    try {
      return tokenizer.encode(prompt);
    } catch (e) {
      throw new Error(`the prompt cannot be encoded by this model's tokenizer: ${(e as Error).message}`);
    }
  }
  if (tokenizer.eotId !== null) return [tokenizer.eotId];
  try {
    return tokenizer.encode('\n');
  } catch {
    return [0];
  }
}

/** The generation loop, pausing (yield) after each token; `generate` and `generateAsync` drive it. */
function* generation(model: GPT, tokenizer: Tokenizer, prompt: string, opts: GenerateOptions): Iterator<void, GenerateResult> {
  const { maxNewTokens = 200, stop = [], cache = true, onText } = opts;
  checkSamplingOptions(opts);
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 0) throw new Error(`maxNewTokens must be an integer >= 0, got ${maxNewTokens}`);
  if (stop.some((s) => typeof s !== 'string' || s === '')) throw new Error('stop strings must be non-empty strings');
  const g = opts.generator ?? new Generator(opts.seed ?? 1337);
  const ids = promptIds(tokenizer, prompt);
  const wasTraining = model.training;
  model.eval();
  const step = logitsStepper(model, cache);
  const dec = new StreamDecoder(tokenizer);
  let text = ''; // generated text so far
  let emitted = 0; // characters of `text` handed to onText
  let stoppedBy = 'length' as GenerateResult['stoppedBy'];
  const t0 = performance.now();
  let n = 0;
  try {
    for (; n < maxNewTokens; ) {
      const logits = noGrad(() => step(ids));
      // A model may have more ids than its tokenizer (a padded vocabulary): only ids that decode can be drawn.
      const id = sampleToken(logits.length > tokenizer.vocabSize ? logits.subarray(0, tokenizer.vocabSize) : logits, g, opts);
      ids.push(id);
      n++;
      if (tokenizer.eotId !== null && id === tokenizer.eotId) {
        stoppedBy = 'eot';
        break;
      }
      text += dec.push(id);
      const hit = firstStop(text, stop);
      if (hit !== -1) {
        text = text.slice(0, hit);
        stoppedBy = 'stop';
        break;
      }
      // Hold back a tail that could still grow into a stop string.
      const safe = text.length - longestStopPrefix(text, stop);
      if (onText && safe > emitted) {
        onText(text.slice(emitted, safe));
        emitted = safe;
      }
      yield;
    }
  } finally {
    model.train(wasTraining);
  }
  if (stoppedBy !== 'stop') text += dec.flush();
  if (onText && text.length > emitted) onText(text.slice(emitted));
  const ms = performance.now() - t0;
  return { ids, text, newTokens: n, stoppedBy, ms, tokensPerSecond: (n / ms) * 1000 };
}

/**
 * Generates text after `prompt`, synchronously. Throws (before generating) for a prompt the tokenizer
 * cannot encode. Under the wasm backend a long generation should use `generateAsync`: memory of each
 * token's garbage tensors comes back only between tasks (see the README, "The wasm backend").
 */
export function generate(model: GPT, tokenizer: Tokenizer, prompt: string, opts: GenerateOptions = {}): GenerateResult {
  const it = generation(model, tokenizer, prompt, opts);
  for (;;) {
    const r = it.next();
    if (r.done) return r.value;
  }
}

/** As `generate`, yielding to the event loop after every token (the same tokens for the same options). */
export async function generateAsync(model: GPT, tokenizer: Tokenizer, prompt: string, opts: GenerateOptions = {}): Promise<GenerateResult> {
  const it = generation(model, tokenizer, prompt, opts);
  for (;;) {
    const r = it.next();
    if (r.done) return r.value;
    await new Promise((res) => setImmediate(res));
  }
}

function firstStop(text: string, stop: readonly string[]): number {
  let at = -1;
  for (const s of stop) {
    const i = text.indexOf(s);
    if (i !== -1 && (at === -1 || i < at)) at = i;
  }
  return at;
}

/** Length of the longest suffix of `text` that is a proper prefix of a stop string. */
function longestStopPrefix(text: string, stop: readonly string[]): number {
  let best = 0;
  for (const s of stop) {
    for (let len = Math.min(s.length - 1, text.length); len > best; len--) {
      if (text.endsWith(s.slice(0, len))) {
        best = len;
        break;
      }
    }
  }
  return best;
}
