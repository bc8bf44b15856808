/** The hyperparameters of a GPT, checked once so that a bad config fails with one clear line. */
import { ShapeError } from '../tensor/shape.js';
import { describeValue } from '../nn/module.js';

/**
 * A GPT's shape. `arch: 'gpt2'` is GPT-2 / nanoGPT (learned positions, LayerNorm, GELU MLP, multi-head
 * attention); `arch: 'llama'` swaps in RMSNorm, rotary positions (RoPE), a SwiGLU MLP and grouped-query
 * attention (`nKVHead` key/value heads shared by `nHead / nKVHead` query heads each).
 */
export interface GPTConfig {
  arch: 'gpt2' | 'llama';
  /** Number of token ids. */
  vocabSize: number;
  /** Context length: the most tokens the model sees at once (learned positions exist only up to it). */
  blockSize: number;
  nLayer: number;
  nHead: number;
  /** Key/value heads (llama only; divides nHead; nHead = multi-head, 1 = multi-query). gpt2: equals nHead. */
  nKVHead: number;
  /** Embedding width C; nHead divides it. */
  nEmbd: number;
  /** MLP hidden width (gpt2 default 4C; llama default 8C/3 rounded up to a multiple of 32). */
  ffnHidden: number;
  /** Dropout on embeddings, attention weights and residual branches (0 = none). */
  dropout: number;
  /** Biases in Linear layers and LayerNorms (GPT-2: true; nanoGPT's default: true; llama: false). */
  bias: boolean;
  /** GELU flavour (gpt2 only): 'gelu' (exact erf, nanoGPT's nn.GELU) or 'gelu_tanh' (GPT-2's gelu_new). */
  activation: 'gelu' | 'gelu_tanh';
  /** Epsilon of LayerNorm / RMSNorm (GPT-2 1e-5). */
  normEps: number;
  /** RoPE base (llama only). */
  ropeTheta: number;
  /** The LM head shares the token embedding matrix (GPT-2 and nanoGPT: true). */
  tieWeights: boolean;
}

export type GPTConfigInput = Partial<GPTConfig> & Pick<GPTConfig, 'vocabSize'>;

/** nanoGPT's defaults, scaled to a CPU: the shape of its Shakespeare CPU recipe. */
export const GPT_DEFAULTS = Object.freeze({
  arch: 'gpt2',
  blockSize: 64,
  nLayer: 4,
  nHead: 4,
  nEmbd: 128,
  dropout: 0,
  bias: true,
  activation: 'gelu',
  normEps: 1e-5,
  ropeTheta: 10000,
  tieWeights: true,
} as const);

const KEYS: readonly (keyof GPTConfig)[] = [
  'arch', 'vocabSize', 'blockSize', 'nLayer', 'nHead', 'nKVHead', 'nEmbd', 'ffnHidden', 'dropout', 'bias', 'activation', 'normEps', 'ropeTheta', 'tieWeights',
];

/**
 * Fills defaults and checks every field; `where` names the source in errors (a config file, 'GPT').
 * Unknown keys are refused (a typo would otherwise be silently ignored).
 */
export function resolveGPTConfig(input: unknown, where = 'GPT'): GPTConfig {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new ShapeError(`${where}: config must be an object, got ${describeValue(input)}`);
  const c = input as Record<string, unknown>;
  for (const k of Object.keys(c)) {
    if (!(KEYS as readonly string[]).includes(k)) throw new ShapeError(`${where}: unknown config key '${k}' (known: ${KEYS.join(', ')})`);
  }
  const get = <K extends keyof GPTConfig>(k: K, dflt: GPTConfig[K] | undefined): unknown => (c[k] === undefined ? dflt : c[k]);
  const int = (k: keyof GPTConfig, dflt: number | undefined, min = 1): number => {
    const v = get(k, dflt);
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new ShapeError(`${where}: ${k} must be an integer >= ${min}, got ${describeValue(v)}`);
    return v;
  };
  const arch = get('arch', GPT_DEFAULTS.arch);
  if (arch !== 'gpt2' && arch !== 'llama') throw new ShapeError(`${where}: arch must be 'gpt2' or 'llama', got ${describeValue(arch)}`);
  const vocabSize = int('vocabSize', undefined);
  const blockSize = int('blockSize', GPT_DEFAULTS.blockSize);
  const nLayer = int('nLayer', GPT_DEFAULTS.nLayer);
  const nHead = int('nHead', GPT_DEFAULTS.nHead);
  const nEmbd = int('nEmbd', GPT_DEFAULTS.nEmbd);
  if (nEmbd % nHead !== 0) throw new ShapeError(`${where}: nEmbd ${nEmbd} must be divisible by nHead ${nHead}`);
  const nKVHead = int('nKVHead', nHead);
  if (arch === 'gpt2' && nKVHead !== nHead) throw new ShapeError(`${where}: nKVHead (${nKVHead}) must equal nHead (${nHead}) for arch 'gpt2'; grouped-query attention needs arch 'llama'`);
  if (nHead % nKVHead !== 0) throw new ShapeError(`${where}: nKVHead ${nKVHead} must divide nHead ${nHead}`);
  const headDim = nEmbd / nHead;
  if (arch === 'llama' && headDim % 2 !== 0) throw new ShapeError(`${where}: RoPE needs an even head size, got nEmbd / nHead = ${headDim}`);
  const ffnDefault = arch === 'gpt2' ? 4 * nEmbd : Math.ceil((8 * nEmbd) / 3 / 32) * 32;
  const ffnHidden = int('ffnHidden', ffnDefault);
  const dropout = get('dropout', GPT_DEFAULTS.dropout);
  if (typeof dropout !== 'number' || !(dropout >= 0 && dropout < 1)) throw new ShapeError(`${where}: dropout must be a number in [0, 1), got ${describeValue(dropout)}`);
  const bool = (k: keyof GPTConfig, dflt: boolean): boolean => {
    const v = get(k, dflt);
    if (typeof v !== 'boolean') throw new ShapeError(`${where}: ${k} must be true or false, got ${describeValue(v)}`);
    return v;
  };
  const bias = bool('bias', arch === 'gpt2');
  const tieWeights = bool('tieWeights', GPT_DEFAULTS.tieWeights);
  const activation = get('activation', GPT_DEFAULTS.activation);
  if (activation !== 'gelu' && activation !== 'gelu_tanh') throw new ShapeError(`${where}: activation must be 'gelu' or 'gelu_tanh', got ${describeValue(activation)}`);
  const pos = (k: keyof GPTConfig, dflt: number): number => {
    const v = get(k, dflt);
    if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) throw new ShapeError(`${where}: ${k} must be a positive number, got ${describeValue(v)}`);
    return v;
  };
  const normEps = pos('normEps', GPT_DEFAULTS.normEps);
  const ropeTheta = pos('ropeTheta', GPT_DEFAULTS.ropeTheta);
  return { arch, vocabSize, blockSize, nLayer, nHead, nKVHead, nEmbd, ffnHidden, dropout, bias, activation, normEps, ropeTheta, tieWeights };
}
