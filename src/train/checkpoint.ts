/**
 * A trained model on disk: a folder a person can copy, inspect and load.
 *
 *   config.json        { format: 'qkv-gpt', version, model: GPTConfig }
 *   tokenizer.json     the tokenizer (a char vocabulary, or { type: 'gpt2' })
 *   model.safetensors  the weights (nanoGPT names; a tied lm_head is stored once, as transformer.wte.weight)
 *   resume.json        training state for --resume: step, generators, optimizer counters, loss history,
 *                      and the name and SHA-256 of the weights + optimizer moments file it goes with
 *   resume-NNNNNN.safetensors   those weights and moments
 *
 * Every file is written atomically (temporary file, then rename). The resume pair is written weights
 * first, under a new name, then resume.json pointing at it, then the old weights file is removed: a crash
 * at any moment leaves a consistent pair, and the SHA-256 catches a damaged one.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Tensor } from '../tensor/tensor.js';
import { fmt } from '../tensor/shape.js';
import { GPT } from '../models/gpt.js';
import { resolveGPTConfig, type GPTConfig } from '../models/gpt-config.js';
import { readSafetensors, serializeSafetensors, parseSafetensors, type SafeTensor } from '../io/safetensors.js';
import { FileFormatError } from '../io/file-format-error.js';
import { writeFileAtomic } from '../io/atomic-write.js';
import { tokenizerFromJSON, type Tokenizer } from '../tokenizers/tokenizer.js';

export const CHECKPOINT_FORMAT = 'qkv-gpt';
export const CHECKPOINT_VERSION = 1;

/** The model's tensors to save: every state tensor once (a tied lm_head.weight is the same tensor as wte). */
export function modelTensors(model: GPT): Map<string, Tensor> {
  const seen = new Set<Tensor>();
  const out = new Map<string, Tensor>();
  for (const [name, t] of model.namedTensors()) {
    if (seen.has(t)) continue;
    seen.add(t);
    out.set(name, t);
  }
  return out;
}

function readJson(path: string, what: string): unknown {
  if (!existsSync(path)) throw new FileFormatError(path, `missing ${what}; is this a folder written by 'qkv train'?`);
  const text = readFileSync(path, 'utf8');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new FileFormatError(path, `${what} is not valid JSON (${(e as Error).message}); the file is damaged: train again or restore it`);
  }
}

/** Copies weights read from a file into `model`, checking names and shapes against its config first. */
export function loadWeights(model: GPT, tensors: Map<string, SafeTensor>, path: string, prefix = ''): void {
  const own = modelTensors(model);
  const state = new Map<string, Tensor>();
  for (const [name, t] of own) {
    const s = tensors.get(prefix + name);
    if (s === undefined) throw new FileFormatError(path, `has no tensor '${prefix + name}' that the config needs; the config does not match the weights`);
    if (s.shape.join() !== t.shape.join()) {
      throw new FileFormatError(path, `tensor '${prefix + name}' is ${fmt(s.shape)} in the file but the config needs ${fmt(t.shape)}; the config does not match the weights`);
    }
    state.set(name, new Tensor(s.data, s.shape));
  }
  const head = tensors.get(`${prefix}lm_head.weight`);
  const wte = tensors.get(`${prefix}transformer.wte.weight`)!;
  if (model.config.tieWeights && head !== undefined && (head.shape.join() !== wte.shape.join() || head.data.some((v, i) => !Object.is(v, wte.data[i])))) {
    throw new FileFormatError(path, `has an lm_head.weight that differs from transformer.wte.weight, but the config ties them (tieWeights: true); the config does not match the weights`);
  }
  for (const name of tensors.keys()) {
    if (name.startsWith(prefix) && !own.has(name.slice(prefix.length)) && !(model.config.tieWeights && name === `${prefix}lm_head.weight`)) {
      throw new FileFormatError(path, `has a tensor '${name}' that the config does not have; the config does not match the weights`);
    }
  }
  // lm_head tied: loadStateDict wants both names, which are one tensor.
  if (model.config.tieWeights) state.set('lm_head.weight', state.get('transformer.wte.weight')!);
  model.loadStateDict(state);
}

/** Writes config.json and tokenizer.json (atomically). */
export function saveModelConfig(dir: string, config: GPTConfig, tokenizer: Tokenizer): void {
  writeFileAtomic(join(dir, 'config.json'), `${JSON.stringify({ format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, model: config }, null, 2)}\n`);
  writeFileAtomic(join(dir, 'tokenizer.json'), `${JSON.stringify(tokenizer.toJSON())}\n`);
}

/** Writes model.safetensors (atomically). */
export function saveModelWeights(dir: string, model: GPT, metadata: Record<string, string> = {}): void {
  writeFileAtomic(join(dir, 'model.safetensors'), serializeSafetensors(modelTensors(model), { format: 'pt', ...metadata }));
}

/** Reads config.json of a qkv folder. */
export function readModelConfig(dir: string): GPTConfig {
  const path = join(dir, 'config.json');
  const json = readJson(path, 'config.json') as Record<string, unknown>;
  if (typeof json !== 'object' || json === null || json.format !== CHECKPOINT_FORMAT) {
    throw new FileFormatError(path, `is not a qkv model config (expected "format": "${CHECKPOINT_FORMAT}")`);
  }
  if (json.version !== CHECKPOINT_VERSION) throw new FileFormatError(path, `has version ${String(json.version)}; this qkv reads version ${CHECKPOINT_VERSION}`);
  try {
    return resolveGPTConfig(json.model, `${path}: model`);
  } catch (e) {
    throw new FileFormatError(path, (e as Error).message.replace(`${path}: `, ''));
  }
}

export function readTokenizer(dir: string): Tokenizer {
  const path = join(dir, 'tokenizer.json');
  return tokenizerFromJSON(readJson(path, 'tokenizer.json'), path);
}

/** Loads a qkv model folder: config, tokenizer and weights, all checked before the model is returned. */
export function loadCheckpoint(dir: string): { model: GPT; tokenizer: Tokenizer; config: GPTConfig } {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new Error(`${dir}: no such model folder (expected config.json, tokenizer.json and model.safetensors from 'qkv train')`);
  const config = readModelConfig(dir);
  const tokenizer = readTokenizer(dir);
  if (tokenizer.vocabSize !== config.vocabSize) {
    throw new FileFormatError(join(dir, 'tokenizer.json'), `has ${tokenizer.vocabSize} tokens but config.json says vocabSize ${config.vocabSize}; they come from different runs`);
  }
  const path = join(dir, 'model.safetensors');
  if (!existsSync(path)) throw new FileFormatError(path, 'missing; the folder has a config but no weights (training saves them at its evaluations and when it is stopped)');
  const { tensors } = readSafetensors(path);
  const model = new GPT(config);
  loadWeights(model, tensors, path);
  model.eval();
  return { model, tokenizer, config };
}

/** What resume.json holds besides the tensors. */
export interface ResumeState {
  format: 'qkv-resume';
  version: number;
  /** The next step to run. */
  iter: number;
  weightsFile: string;
  sha256: string;
  [key: string]: unknown;
}

/**
 * Writes the resume pair: `resume-<iter>.safetensors` (the tensors), then resume.json (the rest, with
 * the tensors' file name and SHA-256), then removes older resume-*.safetensors.
 */
export function saveResume(dir: string, iter: number, tensors: Map<string, Tensor>, state: Record<string, unknown>): void {
  const bytes = serializeSafetensors(tensors);
  const weightsFile = `resume-${String(iter).padStart(6, '0')}.safetensors`;
  writeFileAtomic(join(dir, weightsFile), bytes);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const json: ResumeState = { format: 'qkv-resume', version: 1, iter, weightsFile, sha256, ...state };
  writeFileAtomic(join(dir, 'resume.json'), `${JSON.stringify(json)}\n`);
  for (const f of readdirSync(dir)) {
    if (/^resume-\d+\.safetensors$/.test(f) && f !== weightsFile) rmSync(join(dir, f), { force: true });
  }
}

/** Reads the resume pair back, checking the weights file against the SHA-256 that resume.json recorded. */
export function loadResume(dir: string): { state: ResumeState; tensors: Map<string, SafeTensor> } {
  const path = join(dir, 'resume.json');
  if (!existsSync(path)) throw new FileFormatError(path, `missing: there is nothing to resume in ${dir} (train without --resume first)`);
  const state = readJson(path, 'resume.json') as ResumeState;
  if (typeof state !== 'object' || state === null || state.format !== 'qkv-resume' || typeof state.weightsFile !== 'string' || !/^resume-\d+\.safetensors$/.test(state.weightsFile)) {
    throw new FileFormatError(path, 'is not a qkv resume state');
  }
  for (const [k, ok] of [
    ['iter', Number.isInteger(state.iter) && (state.iter as number) >= 0],
    ['options', typeof state.options === 'object' && state.options !== null],
    ['optimizerCounters', typeof state.optimizerCounters === 'object' && state.optimizerCounters !== null],
    ['generators', typeof state.generators === 'object' && state.generators !== null],
    ['history', typeof state.history === 'object' && state.history !== null && Array.isArray((state.history as { loss?: unknown }).loss)],
    ['bestVal', typeof state.bestVal === 'number' || state.bestVal === null],
  ] as const) {
    if (!ok) throw new FileFormatError(path, `has no valid '${k}'; the resume state is damaged: train again without --resume`);
  }
  const wpath = join(dir, state.weightsFile);
  if (!existsSync(wpath)) throw new FileFormatError(wpath, 'missing; resume.json points at it. The resume state is incomplete: train again without --resume');
  const bytes = readFileSync(wpath);
  const sha = createHash('sha256').update(bytes).digest('hex');
  if (sha !== state.sha256) throw new FileFormatError(wpath, `is damaged: its SHA-256 is ${sha.slice(0, 12)}…, resume.json expects ${String(state.sha256).slice(0, 12)}…`);
  return { state, tensors: parseSafetensors(bytes, wpath).tensors };
}
