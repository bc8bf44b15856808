/**
 * Generation speed: `generate` of 500 new tokens after a short prompt, with and without the KV cache,
 * in tokens per second (prompt included in the time, as GenerateResult.tokensPerSecond).
 *
 * The model has the nanoGPT CPU recipe's width (4 layers, 4 heads, width 128, a 65-character vocabulary)
 * but a context of 1024 tokens, so that the prompt and all 500 new tokens fit without sliding; its
 * weights are a fresh random init (the speed does not depend on them). Temperature 1, a fixed seed: the
 * cached and uncached runs must produce the same tokens, and this checks that they do.
 *
 * Alone: node <build>/bench/generate.js [--backend NAME] [--tokens 500] [--runs 3] [--cache both|on|off]
 *   [--max-seconds S]
 * prints one JSON line per backend and mode.
 */
import { Generator } from '../src/tensor/random.js';
import { setBackend } from '../src/backend/backend.js';
import { GPT } from '../src/models/gpt.js';
import { CharTokenizer } from '../src/tokenizers/char.js';
import { generateAsync } from '../src/generate/generate.js';
import { availableBackends, intOption, jsWorkerShare, isMain, median, option, wantedBackends } from './common.js';

/** The 65 characters of nanoGPT's shakespeare_char vocabulary. */
export const SHAKESPEARE_CHARS = "\n !$&',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
export const GEN_CONFIG = Object.freeze({ vocabSize: 65, blockSize: 1024, nLayer: 4, nHead: 4, nEmbd: 128, dropout: 0, bias: true });
export const PROMPT = 'ROMEO:';
export const SEED = 1337;

export interface GenerateBenchResult {
  workload: 'generate';
  backend: string;
  cache: boolean;
  tokensPerSecond: number;
  runsTokensPerSecond: number[];
  newTokens: number;
  promptTokens: number;
  blockSize: number;
  /** Runs done (fewer than asked when maxSeconds cut them short). */
  runs: number;
  /** js backend: how much of the matmul work its helper worker thread did (null for other backends). */
  matmulWorker: ReturnType<typeof jsWorkerShare>;
  /** The generated ids of the first run (for the cached/uncached comparison). */
  ids: number[];
}

export function makeGenModel(): { model: GPT; tokenizer: CharTokenizer } {
  const tokenizer = CharTokenizer.fromText(SHAKESPEARE_CHARS);
  if (tokenizer.vocabSize !== 65) throw new Error(`generate bench: expected 65 characters, got ${tokenizer.vocabSize}`);
  const model = new GPT(GEN_CONFIG, { generator: new Generator(1337) });
  return { model, tokenizer };
}

/**
 * `runs` runs of `generate` (the median is reported); with `maxSeconds`, stops early (after at least one
 * run) once the runs so far took that long, so that a slow backend does not blow the time budget.
 */
export async function benchGenerate(backendName: string, o: { tokens: number; runs: number; cache: boolean; maxSeconds?: number }): Promise<GenerateBenchResult> {
  const prev = setBackend(backendName);
  try {
    const { model, tokenizer } = makeGenModel();
    const tps: number[] = [];
    let ids: number[] = [];
    const t0 = performance.now();
    for (let run = 0; run < o.runs; run++) {
      if (run > 0 && o.maxSeconds !== undefined && performance.now() - t0 > o.maxSeconds * 1000) break;
      const r = await generateAsync(model, tokenizer, PROMPT, { maxNewTokens: o.tokens, cache: o.cache, temperature: 1, seed: SEED });
      if (r.newTokens !== o.tokens) throw new Error(`generate bench: asked for ${o.tokens} tokens, got ${r.newTokens} (${r.stoppedBy})`);
      tps.push(r.tokensPerSecond);
      if (run === 0) ids = r.ids;
      else if (r.ids.join() !== ids.join()) throw new Error('generate bench: two runs with the same seed gave different tokens');
    }
    return {
      workload: 'generate',
      backend: backendName,
      cache: o.cache,
      tokensPerSecond: median(tps),
      runsTokensPerSecond: tps.map((v) => Math.round(v * 100) / 100),
      newTokens: o.tokens,
      promptTokens: tokenizer.encode(PROMPT).length,
      blockSize: GEN_CONFIG.blockSize,
      runs: tps.length,
      matmulWorker: backendName === 'js' ? jsWorkerShare() : null,
      ids,
    };
  } finally {
    setBackend(prev);
  }
}

/** Index of the first differing token, or -1 when the two sequences are equal. */
export function firstDifference(a: readonly number[], b: readonly number[]): number {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return -1;
}

if (isMain(import.meta.url)) {
  const argv = process.argv.slice(2);
  const backends = await availableBackends();
  const wanted = wantedBackends(argv, 'backend', backends, 'generate');
  const mode = option(argv, 'cache', 'both');
  if (!['both', 'on', 'off'].includes(mode)) throw new Error(`generate: --cache must be both, on or off, got '${mode}'`);
  const tokens = intOption(argv, 'tokens', 500, 1);
  const runs = intOption(argv, 'runs', 3, 1);
  const maxSecondsRaw = option(argv, 'max-seconds', '');
  const maxSeconds = maxSecondsRaw === '' ? undefined : Number(maxSecondsRaw);
  for (const b of wanted) {
    const results: GenerateBenchResult[] = [];
    for (const cache of mode === 'both' ? [true, false] : [mode === 'on']) {
      const r = await benchGenerate(b, { tokens, runs, cache, maxSeconds });
      results.push(r);
      console.log(JSON.stringify(r));
    }
    if (results.length === 2) {
      const d = firstDifference(results[0].ids, results[1].ids);
      console.log(JSON.stringify({ workload: 'generate-check', backend: b, sameTokens: d === -1, firstDifference: d }));
    }
  }
}
