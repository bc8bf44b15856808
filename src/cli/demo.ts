/** `qkv demo`: train the sequence-reversal transformer, then show what one attention head learned. */
import { parseArgs } from 'node:util';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { noGrad } from '../tensor/tensor.js';
import { DEFAULT_REVERSAL, checkReversalConfig, reversalBatch, reversalStreams, trainReversal, type ReversalConfig } from '../tasks/reversal.js';
import { UsageError } from './usage-error.js';
import { Progress } from './progress.js';
import { attentionTable } from './attention-table.js';
import { writeFileAtomic } from '../io/atomic-write.js';
import { attentionGridSvg, attentionHeatmapSvg } from '../viz/svg-heatmap.js';
import { lineChartSvg } from '../viz/svg-line-chart.js';
import { stackSvgs } from '../viz/svg.js';

const d = DEFAULT_REVERSAL;
const DEFAULT_OUT = 'qkv-demo';
export const DEMO_HELP = `qkv demo: train a ${d.layers}-layer transformer to reverse sequences of ${d.length} random tokens,
then print its accuracy on unseen sequences and one attention head as a table, and draw the
training curves and the attention heads as SVG pictures.

Options (defaults in brackets):
  --length N     tokens per sequence [${d.length}]
  --vocab N      distinct tokens [${d.vocab}]
  --steps N      training steps [${d.steps}]
  --batch N      sequences per step [${d.batch}]
  --dim N        model width [${d.dModel}]
  --heads N      attention heads [${d.heads}]
  --layers N     encoder layers [${d.layers}]
  --lr X         peak learning rate [${d.lr}]
  --seed N       random seed [${d.seed}]
  --out DIR      where to write loss.svg, attention.svg, attention-all.svg [${DEFAULT_OUT}]`;

const INT_OPTS = { length: 'length', vocab: 'vocab', steps: 'steps', batch: 'batch', dim: 'dModel', heads: 'heads', layers: 'layers', seed: 'seed' } as const;

export interface DemoOptions {
  config: ReversalConfig;
  /** Directory for the pictures (relative paths are relative to the current directory). */
  out: string;
}

/** Parses the demo's options; a bad one gets a UsageError that names it. */
export function parseDemoArgs(argv: string[]): DemoOptions {
  let values: Record<string, string | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: Object.fromEntries([...Object.keys(INT_OPTS), 'lr', 'out'].map((k) => [k, { type: 'string' }])) as Record<string, { type: 'string' }>,
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e), 'qkv demo --help');
  }
  const config: ReversalConfig = { ...DEFAULT_REVERSAL };
  for (const [flag, key] of Object.entries(INT_OPTS)) {
    const v = values[flag];
    if (v === undefined) continue;
    const min = flag === 'seed' ? 0 : flag === 'vocab' || flag === 'length' ? 2 : 1;
    const max = flag === 'seed' ? 2 ** 32 - 1 : 1e9;
    const n = Number(v);
    // Plain decimal digits only: Number() would also take '0x10', '1e2' and ' 3'.
    if (!/^\d+$/.test(v) || n < min || n > max) throw new UsageError(`--${flag} must be an integer from ${min} to ${max}, got '${v}'`, 'qkv demo --help');
    config[key] = n;
  }
  if (values.dim !== undefined) config.ff = 2 * config.dModel; // the MLP is twice as wide as the model
  if (values.lr !== undefined) {
    const lr = Number(values.lr);
    if (!(lr > 0) || !Number.isFinite(lr)) throw new UsageError(`--lr must be a positive number, got '${values.lr}'`, 'qkv demo --help');
    config.lr = lr;
  }
  if (config.dModel % config.heads !== 0) throw new UsageError(`--dim ${config.dModel} must be divisible by --heads ${config.heads}`, 'qkv demo --help');
  checkReversalConfig(config);
  const out = values.out ?? DEFAULT_OUT;
  if (out === '') throw new UsageError(`--out must be a directory path, got ''`, 'qkv demo --help');
  return { config, out };
}

/**
 * Runs the demo: trains, prints accuracy and the most reversal-like head as a table, then writes the
 * pictures (training curves, that head, every head) to `--out`. Returns the exit code.
 */
export async function runDemo(argv: string[]): Promise<number> {
  const { config, out } = parseDemoArgs(argv);
  // Fail on an unusable --out now, not after a minute of training: create it and write a probe file.
  try {
    mkdirSync(out, { recursive: true });
    const probe = join(out, `.qkv-write-test-${process.pid}`);
    writeFileAtomic(probe, '');
    rmSync(probe);
  } catch (e) {
    throw new Error(`cannot write pictures to --out directory ${out}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  console.log(
    `Training a ${config.layers}-layer, ${config.heads}-head transformer (width ${config.dModel}) to reverse ${config.length} tokens from a vocabulary of ${config.vocab}.`,
  );
  const progress = new Progress(process.stderr, 'seq', 50);
  const history: { step: number; loss: number; accuracy: number }[] = [];
  const result = await trainReversal(config, (s) => {
    history.push({ step: s.step, loss: s.loss, accuracy: s.accuracy });
    progress.update({ step: s.step, total: config.steps, loss: s.loss, items: s.examples, extra: { acc: `${(100 * s.accuracy).toFixed(1)}%`, lr: s.lr.toExponential(1) } });
  });
  console.log(`\nTrained in ${result.seconds.toFixed(1)}s. Token accuracy on ${result.evalExamples} unseen sequences: ${(100 * result.accuracy).toFixed(2)}%`);

  // One example, and the head that attends most along the anti-diagonal (position i looks at n-1-i).
  const { x } = reversalBatch(config, 1, reversalStreams(config.seed).example);
  const { logits, weights } = noGrad(() => result.model.forward(x, { needWeights: true }));
  const n = config.length;
  let best = { layer: 0, head: 0, score: -Infinity };
  weights.forEach((w, layer) => {
    for (let h = 0; h < config.heads; h++) {
      let score = 0;
      for (let i = 0; i < n; i++) score += w.data[(h * n + i) * n + (n - 1 - i)];
      if (score / n > best.score) best = { layer, head: h, score: score / n };
    }
  });
  // One head's [n][n] weights out of a layer's [1, heads, n, n] tensor.
  const head = (layer: number, h: number) => Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => weights[layer].data[(h * n + i) * n + j]));
  const rows = head(best.layer, best.head);
  const input = Array.from(x.data, (t) => String(t));
  const output = Array.from(logits.argmax(-1).data, (t) => String(t));
  console.log(`\ninput:  ${input.join(' ')}\noutput: ${output.join(' ')}`);
  console.log(
    `\nAttention of layer ${best.layer} head ${best.head}, in percent (rows: query positions, columns: key positions, labelled by token).` +
      `\nIt puts ${(100 * best.score).toFixed(0)}% of its weight on the anti-diagonal: position i reads position ${n - 1}-i.\n`,
  );
  const labels = input.map((t, i) => `${i}:${t}`);
  console.log(attentionTable(rows, labels, labels, { color: Boolean(process.stdout.isTTY) }));

  const pictures = {
    'loss.svg': trainingCurvesSvg(history),
    'attention.svg': attentionHeatmapSvg(rows, labels, labels, {
      title: `Layer ${best.layer}, head ${best.head} reversing ${input.join(' ')}: ${(100 * best.score).toFixed(0)}% on the anti-diagonal`,
    }),
    'attention-all.svg': attentionGridSvg(
      weights.flatMap((_, layer) => Array.from({ length: config.heads }, (_, h) => ({ weights: head(layer, h), title: `layer ${layer}, head ${h}`, highlight: layer === best.layer && h === best.head }))),
      labels,
      labels,
      { title: `Every attention head, reversing ${input.join(' ')}`, columns: config.heads },
    ),
  };
  for (const [name, svg] of Object.entries(pictures)) writeFileAtomic(join(out, name), svg, { mkdir: true });
  console.log(`\nPictures (open in a browser): ${Object.keys(pictures).map((name) => join(out, name)).join(', ')}`);
  return 0;
}

/** Loss (log scale: it falls by orders of magnitude) above accuracy, both per training step. */
function trainingCurvesSvg(history: readonly { step: number; loss: number; accuracy: number }[]): string {
  const loss = lineChartSvg([{ name: 'cross-entropy', points: history.map((h) => [h.step, h.loss]) }], {
    title: 'Training loss',
    yLabel: 'loss (log scale)',
    logY: true,
    height: 360,
  });
  const accuracy = lineChartSvg([{ name: 'token accuracy', points: history.map((h) => [h.step, 100 * h.accuracy]) }], {
    title: 'Training accuracy (on each batch)',
    xLabel: 'step',
    yLabel: 'accuracy (%)',
    yRange: [0, 100],
    height: 300,
  });
  return stackSvgs([loss, accuracy], 'Training loss and accuracy');
}
