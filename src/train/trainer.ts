/**
 * nanoGPT's train.py in TypeScript: text -> tokens -> random windows -> GPT -> loss -> AdamW, with
 * warm-up + cosine learning rate, gradient clipping and accumulation, periodic evaluation on train and
 * val, the best model saved, and a resume state that makes an interrupted run continue bit for bit.
 */
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { Tensor, noGrad } from '../tensor/tensor.js';
import { Generator } from '../tensor/random.js';
import { GPT } from '../models/gpt.js';
import { resolveGPTConfig, type GPTConfig } from '../models/gpt-config.js';
import { AdamW } from '../optim/adamw.js';
import { weightDecayGroups, type OptimizerStateDict } from '../optim/optimizer.js';
import { clipGradNorm } from '../optim/clip.js';
import { div } from '../ops/elementwise.js';
import { readTextFiles } from '../data/text-files.js';
import { loadBrownCorpus } from '../data/brown.js';
import { splitTokens, sampleBatch } from '../data/batches.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import { CharTokenizer } from '../tokenizers/char.js';
import { Gpt2Tokenizer } from '../tokenizers/gpt2.js';
import { writeFileAtomic } from '../io/atomic-write.js';
import { lineChartSvg } from '../viz/svg-line-chart.js';
import { learningRateAt } from './lr-schedule.js';
import { resolveTrainOptions, type TrainOptions } from './train-options.js';
import { loadResume, loadWeights, modelTensors, readModelConfig, readTokenizer, saveModelConfig, saveModelWeights, saveResume } from './checkpoint.js';

/** One evaluation: mean loss over evalIters batches of each split. */
export interface EvalPoint {
  step: number;
  train: number;
  val: number;
  lr: number;
}

export interface TrainHistory {
  /** Training loss of every step (mean over accumulation micro-steps), index = step. */
  loss: number[];
  evals: EvalPoint[];
}

export interface TrainEvents {
  /** Called after every optimizer step. */
  onStep?(s: { step: number; maxIters: number; loss: number; lr: number; tokens: number; elapsedMs: number }): void;
  onEval?(e: EvalPoint & { best: boolean; saved: boolean }): void;
  /** Free-form messages (data size, parameter count, what was saved). */
  onMessage?(line: string): void;
  /** Stops the run at the next step boundary; the resume state is saved there. */
  signal?: AbortSignal;
}

export interface TrainResult {
  model: GPT;
  tokenizer: Tokenizer;
  config: GPTConfig;
  options: TrainOptions;
  history: TrainHistory;
  bestVal: number;
  /** Steps done when the run ended (maxIters, or fewer when interrupted). */
  steps: number;
  interrupted: boolean;
  /** Wall time of this process's share of the run. */
  elapsedMs: number;
  trainTokens: number;
  valTokens: number;
}

/** Options that must be the same for --resume to continue the same run. */
const RUN_KEYS: readonly (keyof TrainOptions)[] = [
  'files', 'tokenizer', 'valFraction', 'arch', 'nLayer', 'nHead', 'nKVHead', 'nEmbd', 'blockSize', 'dropout', 'bias', 'batchSize', 'gradientAccumulationSteps',
  'learningRate', 'minLr', 'warmupIters', 'lrDecayIters', 'decayLr', 'weightDecay', 'beta1', 'beta2', 'gradClip', 'evalInterval', 'evalIters', 'seed',
];

function loadText(o: TrainOptions): string {
  return o.files.length > 0 ? readTextFiles(o.files) : loadBrownCorpus();
}

/** Mean loss over `iters` random batches of each split, without gradients, in eval mode. */
export async function estimateLoss(model: GPT, splits: Record<'train' | 'val', Int32Array>, o: TrainOptions, g: Generator): Promise<{ train: number; val: number }> {
  model.eval();
  const out = { train: 0, val: 0 };
  try {
    for (const split of ['train', 'val'] as const) {
      let sum = 0;
      for (let i = 0; i < o.evalIters; i++) {
        const { x, y } = sampleBatch(splits[split], o.batchSize, o.blockSize, g);
        sum += noGrad(() => model.forward(x, { targets: y }).loss!.item());
        // Yield between batches: the wasm backend gets each batch's garbage back between tasks
        // (measured: 20 eval batches in one synchronous loop took peak RSS from 0.55 to 2.6 GB).
        await new Promise((res) => setImmediate(res));
      }
      out[split] = sum / o.evalIters;
    }
  } finally {
    model.train();
  }
  return out;
}

/** The loss curve as an SVG: training loss per step, and the evaluated train and val losses. */
export function lossCurveSvg(h: TrainHistory, title: string): string {
  return lineChartSvg(
    [
      { name: 'train (step)', points: h.loss.map((l, i) => [i + 1, l] as const) },
      { name: 'train (eval)', points: h.evals.map((e) => [e.step, e.train] as const) },
      { name: 'val (eval)', points: h.evals.map((e) => [e.step, e.val] as const) },
    ],
    { title, xLabel: 'step', yLabel: 'cross-entropy loss (nats per token)' },
  );
}

function optimizerTensors(sd: OptimizerStateDict): { tensors: Map<string, Tensor>; counters: Record<string, Record<string, number>> } {
  const tensors = new Map<string, Tensor>();
  const counters: Record<string, Record<string, number>> = {};
  for (const [idx, s] of Object.entries(sd.state)) {
    for (const [k, v] of Object.entries(s)) {
      if (v instanceof Tensor) tensors.set(`optim.${idx}.${k}`, v);
      else (counters[idx] ??= {})[k] = v;
    }
  }
  return { tensors, counters };
}

/**
 * Trains a GPT as nanoGPT does (async only so that Ctrl-C can be heard between steps). With `resume`, continues the run saved in `outDir` (its options must
 * match, except maxIters, which may grow) so that the loss curve is exactly the uninterrupted one.
 */
export async function train(input: Partial<TrainOptions>, ev: TrainEvents = {}, resume = false): Promise<TrainResult> {
  const o = resolveTrainOptions(input);
  // Fail first, before reading any data: a model shape that cannot be built, or nothing to resume.
  resolveGPTConfig({ arch: o.arch, vocabSize: 1, blockSize: o.blockSize, nLayer: o.nLayer, nHead: o.nHead, nKVHead: o.nKVHead || o.nHead, nEmbd: o.nEmbd, dropout: o.dropout, bias: o.bias }, 'train');
  if (resume) loadResume(o.outDir);
  const say = (s: string) => ev.onMessage?.(s);
  const t0 = performance.now();

  // text -> tokens
  let tokenizer: Tokenizer;
  const text = loadText(o);
  if (resume) tokenizer = readTokenizer(o.outDir);
  else if (o.tokenizer === 'char') tokenizer = CharTokenizer.fromText(text);
  else tokenizer = new Gpt2Tokenizer();
  const tokens = Int32Array.from(tokenizer.encode(text));
  const { train: trainData, val: valData } = splitTokens(tokens, o.valFraction);
  const source = o.files.length ? o.files.join(', ') : 'the Brown corpus (built in)';
  for (const [name, d] of [['training', trainData], ['validation', valData]] as const) {
    if (d.length < o.blockSize + 1) {
      throw new Error(
        `train: ${source} gives ${tokens.length} tokens; its ${name} split (${d.length} tokens) is shorter than one block of ${o.blockSize + 1}: use more text or a smaller --block-size`,
      );
    }
  }
  say(`data: ${source}: ${text.length.toLocaleString('en-US')} characters, ${tokens.length.toLocaleString('en-US')} tokens (${tokenizer.type}, vocabulary ${tokenizer.vocabSize}); train ${trainData.length.toLocaleString('en-US')}, val ${valData.length.toLocaleString('en-US')}`);

  // tokens -> model
  const config = resolveGPTConfig({
    arch: o.arch, vocabSize: tokenizer.vocabSize, blockSize: o.blockSize, nLayer: o.nLayer, nHead: o.nHead, nKVHead: o.nKVHead || o.nHead, nEmbd: o.nEmbd, dropout: o.dropout, bias: o.bias,
  });
  const modelGen = new Generator(o.seed);
  const dataGen = new Generator(o.seed + 1);
  const evalGen = new Generator(o.seed + 2);
  const model = new GPT(config, { generator: modelGen });
  model.train();
  const params = model.parameters();
  const optimizer = new AdamW(weightDecayGroups(params, o.weightDecay), { lr: o.learningRate, betas: [o.beta1, o.beta2], weightDecay: o.weightDecay });
  say(`model: ${config.arch}, ${config.nLayer} layers, ${config.nHead} heads, width ${config.nEmbd}, context ${config.blockSize}: ${(model.countParameters() / 1e6).toFixed(2)}M parameters`);

  let start = 0;
  let bestVal = Infinity;
  const history: TrainHistory = { loss: [], evals: [] };
  if (resume) {
    const saved = readModelConfig(o.outDir);
    if (JSON.stringify(saved) !== JSON.stringify(config)) throw new Error(`train --resume: the options give a different model than ${join(o.outDir, 'config.json')}; resume with the options of the original run`);
    const { state, tensors } = loadResume(o.outDir);
    const prev = state.options as Record<string, unknown>;
    for (const k of RUN_KEYS) {
      if (JSON.stringify(prev[k]) !== JSON.stringify(o[k])) {
        throw new Error(`train --resume: ${k} was ${JSON.stringify(prev[k])} in the saved run and is ${JSON.stringify(o[k])} now; an exact resume needs the same options (only maxIters may change)`);
      }
    }
    if (state.tokens !== tokens.length) throw new Error(`train --resume: the text gives ${tokens.length} tokens, the saved run had ${String(state.tokens)}; the data changed`);
    loadWeights(model, tensors, join(o.outDir, state.weightsFile), 'model.');
    const sd = optimizer.stateDict();
    const counters = state.optimizerCounters as Record<string, Record<string, number>>;
    for (const idx of Object.keys(counters)) {
      const s: Record<string, Tensor | number> = { ...counters[idx] };
      for (const k of ['expAvg', 'expAvgSq']) {
        const t = tensors.get(`optim.${idx}.${k}`);
        if (!t) throw new Error(`train --resume: ${state.weightsFile} lacks optim.${idx}.${k}`);
        s[k] = new Tensor(t.data, t.shape);
      }
      sd.state[Number(idx)] = s;
    }
    optimizer.loadStateDict(sd);
    const gens = state.generators as Record<'model' | 'data' | 'eval', { s: number[]; spare: number | null }>;
    modelGen.setState(gens.model);
    dataGen.setState(gens.data);
    evalGen.setState(gens.eval);
    start = state.iter;
    bestVal = (state.bestVal as number | null) ?? Infinity; // JSON has no Infinity: null
    const h = state.history as TrainHistory;
    history.loss = h.loss.slice(0, start);
    history.evals = h.evals.filter((e) => e.step <= start);
    say(`resuming at step ${start} of ${o.maxIters} (best val loss so far ${bestVal.toFixed(4)})`);
  } else {
    mkdirSync(o.outDir, { recursive: true });
    // A new run in a used folder: the old weights and resume state must not pair with the new config.
    for (const f of readdirSync(o.outDir)) {
      if (f === 'model.safetensors' || f === 'resume.json' || /^resume-\d+\.safetensors$/.test(f)) rmSync(join(o.outDir, f), { force: true });
    }
  }
  saveModelConfig(o.outDir, config, tokenizer);

  const saveResumeState = (iter: number) => {
    const { tensors: optT, counters } = optimizerTensors(optimizer.stateDict());
    const all = new Map<string, Tensor>();
    for (const [n, t] of modelTensors(model)) all.set(`model.${n}`, t);
    for (const [n, t] of optT) all.set(n, t);
    saveResume(o.outDir, iter, all, {
      options: o,
      tokens: tokens.length,
      optimizerCounters: counters,
      generators: { model: modelGen.getState(), data: dataGen.getState(), eval: evalGen.getState() },
      bestVal,
      history,
    });
  };
  const writeCurve = () => writeFileAtomic(join(o.outDir, 'loss.svg'), lossCurveSvg(history, `qkv train: ${o.files.length ? o.files.map((f) => basename(f)).join(', ') : 'Brown corpus'}`));

  const splits = { train: trainData, val: valData };
  let savedWeights = resume && existsSync(join(o.outDir, 'model.safetensors')); // model.safetensors is this run's
  const tokensPerStep = o.batchSize * o.blockSize * o.gradientAccumulationSteps;
  let step = start;
  let interrupted = false;
  const schedule = { learningRate: o.learningRate, warmupIters: o.warmupIters, lrDecayIters: o.lrDecayIters, minLr: o.minLr, decayLr: o.decayLr };
  for (;;) {
    const lr = learningRateAt(step, schedule);
    const evalDue = (step % o.evalInterval === 0 || step === o.maxIters) && !history.evals.some((e) => e.step === step);
    if (evalDue) {
      // An eval off the interval (the last step) must not change what a longer resumed run would see, so
      // the resume state is saved before it (eval generator, best val, history as they were).
      const onInterval = step % o.evalInterval === 0;
      if (!onInterval) saveResumeState(step);
      const losses = await estimateLoss(model, splits, o, evalGen);
      if (!Number.isFinite(losses.train) || !Number.isFinite(losses.val)) {
        throw new Error(`train: the evaluated loss became ${losses.val} at step ${step}; the run diverged: start again with a lower --learning-rate (nothing was saved for this step)`);
      }
      const best = losses.val < bestVal;
      if (best) bestVal = losses.val;
      const point = { step, ...losses, lr };
      history.evals.push(point);
      const saved = (step > 0 && (best || o.alwaysSaveCheckpoint)) || (step === o.maxIters && !savedWeights);
      if (saved) {
        saveModelWeights(o.outDir, model, { step: String(step), val_loss: losses.val.toFixed(6) });
        savedWeights = true;
      }
      if (onInterval) saveResumeState(step);
      writeCurve();
      ev.onEval?.({ ...point, best, saved });
    }
    if (step >= o.maxIters) break;
    // Let signal handlers (Ctrl-C) run: the loop is synchronous work and would otherwise block them.
    await new Promise((res) => setImmediate(res));
    if (ev.signal?.aborted) {
      interrupted = true;
      break;
    }

    for (const g of optimizer.paramGroups) g.lr = lr;
    let lossSum = 0;
    for (let micro = 0; micro < o.gradientAccumulationSteps; micro++) {
      const { x, y } = sampleBatch(trainData, o.batchSize, o.blockSize, dataGen);
      const { loss } = model.forward(x, { targets: y });
      lossSum += loss!.item();
      (o.gradientAccumulationSteps > 1 ? div(loss!, o.gradientAccumulationSteps) : loss!).backward();
    }
    if (o.gradClip > 0) clipGradNorm(params, o.gradClip);
    optimizer.step();
    optimizer.zeroGrad();
    const loss = lossSum / o.gradientAccumulationSteps;
    if (!Number.isFinite(loss)) throw new Error(`train: the loss became ${loss} at step ${step}; the run diverged: start again with a lower --learning-rate`);
    history.loss.push(loss);
    step++;
    ev.onStep?.({ step, maxIters: o.maxIters, loss, lr, tokens: (step - start) * tokensPerStep, elapsedMs: performance.now() - t0 });
  }
  if (interrupted) {
    saveResumeState(step);
    writeCurve();
    if (!savedWeights) saveModelWeights(o.outDir, model, { step: String(step) });
    say(`interrupted at step ${step}: the state is saved; continue with --resume`);
  }
  return {
    model, tokenizer, config, options: o, history, bestVal, steps: step, interrupted,
    elapsedMs: performance.now() - t0, trainTokens: trainData.length, valTokens: valData.length,
  };
}
