/** Training options under nanoGPT's names (camelCased), with its Shakespeare CPU recipe as defaults. */
import { describeValue } from '../nn/module.js';

export interface TrainOptions {
  /** Where checkpoints, the loss curve and logs go. */
  outDir: string;
  /** UTF-8 text files to train on; empty = the Brown corpus (built in). */
  files: string[];
  tokenizer: 'char' | 'gpt2';
  /** The last fraction of the tokens is held out for validation. */
  valFraction: number;
  // model
  arch: 'gpt2' | 'llama';
  nLayer: number;
  nHead: number;
  /** llama only: key/value heads (grouped-query attention). 0 = nHead. */
  nKVHead: number;
  nEmbd: number;
  blockSize: number;
  dropout: number;
  /** Biases in Linear layers and LayerNorms (default: true for gpt2, as GPT-2; false for llama; nanoGPT's train.py defaults to False). */
  bias: boolean;
  // optimisation
  batchSize: number;
  gradientAccumulationSteps: number;
  maxIters: number;
  learningRate: number;
  minLr: number;
  warmupIters: number;
  lrDecayIters: number;
  decayLr: boolean;
  weightDecay: number;
  beta1: number;
  beta2: number;
  /** Clip the gradient's global norm to this (0 = off). */
  gradClip: number;
  // evaluation and saving
  evalInterval: number;
  evalIters: number;
  /** Save model.safetensors at every evaluation, not only when val loss improves. */
  alwaysSaveCheckpoint: boolean;
  seed: number;
}

/** nanoGPT's CPU recipe (README: "baby GPT" on shakespeare_char with --device=cpu). */
export const TRAIN_DEFAULTS: Readonly<TrainOptions> = Object.freeze({
  outDir: 'qkv-out',
  files: [],
  tokenizer: 'char',
  valFraction: 0.1,
  arch: 'gpt2',
  nLayer: 4,
  nHead: 4,
  nKVHead: 0,
  nEmbd: 128,
  blockSize: 64,
  dropout: 0,
  bias: true,
  batchSize: 12,
  gradientAccumulationSteps: 1,
  maxIters: 2000,
  learningRate: 1e-3,
  minLr: 1e-4,
  warmupIters: 100,
  lrDecayIters: 2000,
  decayLr: true,
  weightDecay: 0.1,
  beta1: 0.9,
  beta2: 0.99,
  gradClip: 1.0,
  evalInterval: 250,
  evalIters: 20,
  alwaysSaveCheckpoint: false,
  seed: 1337,
});

/** Fills defaults and checks every value; errors name the option as the user wrote it (camelCase). */
export function resolveTrainOptions(input: Partial<TrainOptions>): TrainOptions {
  for (const k of Object.keys(input)) {
    if (!(k in TRAIN_DEFAULTS)) throw new Error(`train: unknown option '${k}' (known: ${Object.keys(TRAIN_DEFAULTS).join(', ')})`);
  }
  const o = { ...TRAIN_DEFAULTS, ...Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)) } as TrainOptions;
  if (input.bias === undefined) o.bias = o.arch === 'gpt2'; // llama has no biases unless asked
  const bad = (k: keyof TrainOptions, want: string): never => {
    throw new Error(`train: ${k} must be ${want}, got ${describeValue(o[k])}`);
  };
  const int = (k: keyof TrainOptions, min: number): void => {
    const v = o[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) bad(k, `an integer >= ${min}`);
  };
  const num = (k: keyof TrainOptions, ok: (v: number) => boolean, want: string): void => {
    const v = o[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) bad(k, want);
  };
  for (const k of ['nLayer', 'nHead', 'nEmbd', 'blockSize', 'batchSize', 'gradientAccumulationSteps', 'evalInterval', 'evalIters'] as const) int(k, 1);
  for (const k of ['maxIters', 'warmupIters', 'lrDecayIters', 'nKVHead', 'seed'] as const) int(k, 0);
  num('valFraction', (v) => v > 0 && v < 1, 'a number in (0, 1)');
  num('dropout', (v) => v >= 0 && v < 1, 'a number in [0, 1)');
  num('learningRate', (v) => v > 0, 'a positive number');
  num('minLr', (v) => v >= 0, 'a number >= 0');
  num('weightDecay', (v) => v >= 0, 'a number >= 0');
  num('beta1', (v) => v >= 0 && v < 1, 'a number in [0, 1)');
  num('beta2', (v) => v >= 0 && v < 1, 'a number in [0, 1)');
  num('gradClip', (v) => v >= 0, 'a number >= 0 (0 = no clipping)');
  if (o.tokenizer !== 'char' && o.tokenizer !== 'gpt2') bad('tokenizer', "'char' or 'gpt2'");
  if (o.arch !== 'gpt2' && o.arch !== 'llama') bad('arch', "'gpt2' or 'llama'");
  if (!Array.isArray(o.files) || o.files.some((f) => typeof f !== 'string')) bad('files', 'a list of file paths');
  if (typeof o.outDir !== 'string' || o.outDir === '') bad('outDir', 'a folder path');
  return o;
}
