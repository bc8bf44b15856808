/**
 * One training step of nanoGPT's CPU recipe, in qkv, timed as bench/torch_nanogpt.py times PyTorch's:
 * vocab 65, block 64, batch 12, 4 layers, 4 heads, width 128, dropout 0, bias; AdamW on
 * weightDecayGroups(params, 0.1) with lr 1e-3 and betas [0.9, 0.99], warm-up 100 and cosine to 1e-4,
 * gradients clipped to norm 1.0; random tokens (the time of a step does not depend on the text).
 *
 * One timed iteration: set the lr, sampleBatch, forward with loss, loss.item() (the trainer logs every
 * step), backward, clipGradNorm, step, zeroGrad. The result is the median over `runs` runs of `iters`
 * iterations each, after `warmup` iterations.
 *
 * Alone: node <build>/bench/train-step.js [--backend NAME] [--warmup N] [--iters K] [--runs R]
 * prints one JSON line.
 */
import { Generator } from '../src/tensor/random.js';
import { setBackend } from '../src/backend/backend.js';
import { GPT } from '../src/models/gpt.js';
import { AdamW } from '../src/optim/adamw.js';
import { weightDecayGroups } from '../src/optim/optimizer.js';
import { clipGradNorm } from '../src/optim/clip.js';
import { sampleBatch } from '../src/data/batches.js';
import { learningRateAt } from '../src/train/lr-schedule.js';
import { availableBackends, intOption, jsWorkerShare, isMain, median, option, wantedBackends } from './common.js';

/** nanoGPT's README CPU recipe (config/train_shakespeare_char.py with the README's overrides). */
export const RECIPE = Object.freeze({
  vocabSize: 65,
  blockSize: 64,
  batchSize: 12,
  nLayer: 4,
  nHead: 4,
  nEmbd: 128,
  dropout: 0,
  bias: true,
  learningRate: 1e-3,
  minLr: 1e-4,
  warmupIters: 100,
  lrDecayIters: 2000,
  weightDecay: 0.1,
  betas: [0.9, 0.99] as [number, number],
  gradClip: 1.0,
});

export interface TrainStepResult {
  workload: 'train-step';
  backend: string;
  msPerIter: number;
  runsMsPerIter: number[];
  warmup: number;
  iters: number;
  runs: number;
  params: number;
  finalLoss: number;
  /** js backend: how much of the matmul work its helper worker thread did (null for other backends). */
  matmulWorker: ReturnType<typeof jsWorkerShare>;
}

export async function benchTrainStep(backendName: string, o: { warmup: number; iters: number; runs: number }): Promise<TrainStepResult> {
  const prev = setBackend(backendName);
  try {
    const r = RECIPE;
    const model = new GPT(
      { vocabSize: r.vocabSize, blockSize: r.blockSize, nLayer: r.nLayer, nHead: r.nHead, nEmbd: r.nEmbd, dropout: r.dropout, bias: r.bias },
      { generator: new Generator(1337) },
    );
    model.train();
    const params = model.parameters();
    const optimizer = new AdamW(weightDecayGroups(params, r.weightDecay), { lr: r.learningRate, betas: r.betas, weightDecay: r.weightDecay });
    const schedule = { learningRate: r.learningRate, warmupIters: r.warmupIters, lrDecayIters: r.lrDecayIters, minLr: r.minLr, decayLr: true };

    // Random "text": 1M tokens, as the PyTorch side.
    const dataGen = new Generator(0);
    const data = new Int32Array(1_000_000);
    for (let i = 0; i < data.length; i++) data[i] = dataGen.int(0, r.vocabSize);
    const batchGen = new Generator(1);

    let it = 0;
    let lastLoss = NaN;
    const step = () => {
      const lr = learningRateAt(it, schedule);
      for (const g of optimizer.paramGroups) g.lr = lr;
      const { x, y } = sampleBatch(data, r.batchSize, r.blockSize, batchGen);
      const { loss } = model.forward(x, { targets: y });
      lastLoss = loss!.item();
      loss!.backward();
      clipGradNorm(params, r.gradClip);
      optimizer.step();
      optimizer.zeroGrad();
      it++;
    };
    // Each step yields to the event loop, as a training loop does (qkv's trainer): that is when the wasm
    // backend gets the memory of the last step's garbage tensors back.
    const tick = () => new Promise((res) => setImmediate(res));

    for (let i = 0; i < o.warmup; i++) {
      step();
      await tick();
    }
    const perIter: number[] = [];
    for (let run = 0; run < o.runs; run++) {
      const t0 = performance.now();
      for (let i = 0; i < o.iters; i++) {
        step();
        await tick();
      }
      perIter.push((performance.now() - t0) / o.iters);
    }
    return {
      workload: 'train-step',
      backend: backendName,
      msPerIter: median(perIter),
      runsMsPerIter: perIter.map((v) => Math.round(v * 1000) / 1000),
      warmup: o.warmup,
      iters: o.iters,
      runs: o.runs,
      params: model.countParameters(),
      finalLoss: lastLoss,
      matmulWorker: backendName === 'js' ? jsWorkerShare() : null,
    };
  } finally {
    setBackend(prev);
  }
}

if (isMain(import.meta.url)) {
  const argv = process.argv.slice(2);
  const backends = await availableBackends();
  const wanted = wantedBackends(argv, 'backend', backends, 'train-step');
  for (const b of wanted) {
    const slow = b === 'reference';
    const res = await benchTrainStep(b, {
      warmup: intOption(argv, 'warmup', slow ? 2 : 3),
      iters: intOption(argv, 'iters', slow ? 1 : 2, 1),
      runs: intOption(argv, 'runs', 5, 1),
    });
    console.log(JSON.stringify(res));
  }
}
