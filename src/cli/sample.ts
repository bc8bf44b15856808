/** `qkv sample`: generate from a model folder (qkv's own, or a Hugging Face GPT-2 folder), streaming. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadCheckpoint } from '../train/checkpoint.js';
import { loadHFGpt2 } from '../models/gpt2-hf.js';
import { Gpt2Tokenizer } from '../tokenizers/gpt2.js';
import type { GPT } from '../models/gpt.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import { generateAsync } from '../generate/generate.js';
import { checkSamplingOptions } from '../generate/sampling.js';
import { parseFlags, kebab } from './flags.js';
import { UsageError } from './usage-error.js';

const HELP_REF = 'qkv sample --help';
const DEFAULTS = { model: 'qkv-out', prompt: '', maxNewTokens: 500, temperature: 0.8, topK: 200, topP: 1, seed: 1337, numSamples: 1, stop: [] as string[] };

export const SAMPLE_HELP = `qkv sample [options]: generate text from a trained model, as nanoGPT's sample.py.

  --model DIR            a folder from 'qkv train', or a Hugging Face GPT-2 folder
                         (config.json + model.safetensors) [${DEFAULTS.model}]
  --prompt TEXT          the start of the text; empty = start of a document ['']
  --max-new-tokens N     [${DEFAULTS.maxNewTokens}]
  --temperature X        0 = greedy [${DEFAULTS.temperature}]
  --top-k N              keep the N most likely tokens (0 = all) [${DEFAULTS.topK}]
  --top-p X              nucleus sampling (1 = off) [${DEFAULTS.topP}]
  --seed N               [${DEFAULTS.seed}]
  --num-samples N        [${DEFAULTS.numSamples}]
  --stop TEXT            stop when the text contains TEXT (repeatable)
  --no-cache             recompute the whole context for every token (no KV cache)

Tokens are printed as they are sampled; the speed goes to stderr. A prompt longer than the model's
context is cropped to its last block-size tokens (as nanoGPT).`;

/** Loads a qkv folder, or a Hugging Face GPT-2 folder (recognised by "model_type" in config.json). */
export function loadModelFolder(dir: string): { model: GPT; tokenizer: Tokenizer; kind: string } {
  const cfg = join(dir, 'config.json');
  if (existsSync(cfg)) {
    let json: unknown = null;
    try {
      json = JSON.parse(readFileSync(cfg, 'utf8'));
    } catch {
      // loadCheckpoint reports the broken file
    }
    if (json !== null && typeof json === 'object' && 'model_type' in json) {
      const { model } = loadHFGpt2(dir);
      return { model, tokenizer: new Gpt2Tokenizer(), kind: 'Hugging Face GPT-2' };
    }
  }
  const { model, tokenizer } = loadCheckpoint(dir);
  return { model, tokenizer, kind: 'qkv' };
}

export async function runSample(argv: string[]): Promise<number> {
  const { values, extra } = parseFlags(argv, DEFAULTS, HELP_REF, { 'no-cache': { type: 'boolean' } });
  const o = { ...DEFAULTS, ...values };
  for (const k of ['maxNewTokens', 'numSamples', 'seed', 'topK'] as const) {
    if (!Number.isInteger(o[k]) || o[k] < 0) throw new UsageError(`--${kebab(k)} must be an integer >= 0, got ${o[k]}`, HELP_REF);
  }
  try {
    checkSamplingOptions({ temperature: o.temperature, topP: o.topP });
  } catch (e) {
    throw new UsageError(`--${(e as Error).message.replace('topP', 'top-p')}`, HELP_REF);
  }
  if (o.stop.some((s) => s === '')) throw new UsageError('--stop needs a non-empty text', HELP_REF);
  const { model, tokenizer, kind } = loadModelFolder(o.model);
  const c = model.config;
  process.stderr.write(`${kind} model from ${o.model}: ${c.nLayer} layers, ${c.nHead} heads, width ${c.nEmbd}, context ${c.blockSize}, vocabulary ${c.vocabSize}\n`);
  for (let i = 0; i < o.numSamples; i++) {
    if (i > 0) process.stdout.write('\n---------------\n');
    process.stdout.write(o.prompt);
    const r = await generateAsync(model, tokenizer, o.prompt, {
      maxNewTokens: o.maxNewTokens, temperature: o.temperature, topK: o.topK === 0 ? undefined : o.topK, topP: o.topP, seed: o.seed + i, stop: o.stop, cache: !extra['no-cache'],
      onText: (t) => process.stdout.write(t),
    });
    process.stdout.write('\n');
    process.stderr.write(`[${r.newTokens} tokens in ${(r.ms / 1000).toFixed(2)} s: ${r.tokensPerSecond.toFixed(1)} tokens/s, ${extra['no-cache'] ? 'no KV cache' : 'KV cache'}; stopped by ${r.stoppedBy}]\n`);
  }
  return 0;
}
