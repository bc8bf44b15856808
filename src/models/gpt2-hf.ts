/**
 * GPT-2 checkpoints in the Hugging Face layout: a folder with config.json and model.safetensors (as on the
 * Hub for openai-community/gpt2, gpt2-medium, distilgpt2, or as `save_pretrained` writes them), read into
 * a {@link GPT}.
 *
 * Names. The Hub's GPT-2 files name the trunk without a prefix (`wte.weight`, `h.0.attn.c_attn.weight`,
 * `ln_f.bias`) and carry no LM head (it is tied to wte); `GPT2LMHeadModel.save_pretrained` prefixes them with
 * `transformer.` and may add `lm_head.weight`. Both are read: `transformer.` is stripped, and each name maps
 * one to one onto qkv's nanoGPT names (`transformer.h.0.attn.c_attn.weight`). Each layer's attention
 * buffers `h.N.attn.bias` (the causal mask) and `h.N.attn.masked_bias` (older exports) are not weights and
 * are skipped. An `lm_head.weight` is accepted when it equals wte bit for bit (it is the tied matrix saved
 * twice); with `tie_word_embeddings: false` it is required and becomes a separate head.
 *
 * Layout. GPT-2's projections are `Conv1D` modules, whose weight is [in, out] (y = x W + b), the transpose
 * of nn.Linear's [out, in] that qkv (and nanoGPT) use: c_attn, attn.c_proj, c_fc and mlp.c_proj are
 * transposed on load. c_attn's output columns are q, k, v in that order, heads contiguous within each, the
 * order qkv splits them in, so nothing else moves.
 *
 * Every problem is one line naming the file: a missing folder or file, a config that is not JSON or not a
 * supported GPT-2, a tensor missing, unexpected, duplicated or of the wrong shape for the config (naming
 * the tensor, the expected and found shapes), a corrupt safetensors file (from readSafetensors). Nothing is
 * returned until every tensor has been checked and loaded.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { FileFormatError } from '../io/file-format-error.js';
import { readSafetensors, type SafeTensor } from '../io/safetensors.js';
import { Tensor } from '../tensor/tensor.js';
import { fmt } from '../tensor/shape.js';
import { Generator } from '../tensor/random.js';
import { GPT } from './gpt.js';
import { resolveGPTConfig, type GPTConfig } from './gpt-config.js';

/** GPT2Config's defaults (transformers), used where a config.json leaves a key out, as transformers does. */
const HF_DEFAULTS = { vocab_size: 50257, n_positions: 1024, n_embd: 768, n_layer: 12, n_head: 12, layer_norm_epsilon: 1e-5, activation_function: 'gelu_new' } as const;

/** HF activation names -> qkv's. gelu_pytorch_tanh is the same tanh formula as gelu_new (PyTorch's kernel). */
const ACTIVATIONS: Readonly<Record<string, GPTConfig['activation']>> = { gelu_new: 'gelu_tanh', gelu_pytorch_tanh: 'gelu_tanh', gelu: 'gelu' };

/** Weight dtypes accepted (all read as float32). */
const FLOAT_DTYPES = new Set(['F32', 'F16', 'BF16', 'F64']);

function show(v: unknown): string {
  const s = v === undefined ? 'nothing' : JSON.stringify(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/**
 * Maps a Hugging Face GPT-2 config.json (parsed) to a GPTConfig: arch 'gpt2', activation 'gelu_tanh' for
 * gelu_new (and gelu_pytorch_tanh) or 'gelu' for gelu, bias true, tieWeights from tie_word_embeddings
 * (default true), blockSize = n_positions, normEps = layer_norm_epsilon, ffnHidden = n_inner ?? 4·n_embd,
 * dropout 0 (inference; HF's *_pdrop are training settings). Keys GPT2Config would default are defaulted
 * as it does; keys that do not change the forward (summary_*, bos/eos ids, use_cache, ...) are ignored.
 * Refused, as the model would compute something else: a model_type other than "gpt2", another activation,
 * scale_attn_weights false, scale_attn_by_inverse_layer_idx true, add_cross_attention true.
 *
 * @param where the config's file name, for errors
 * @throws FileFormatError naming `where`, one line
 */
export function gptConfigFromHF(json: unknown, where: string): GPTConfig {
  const fail = (problem: string): never => {
    throw new FileFormatError(where, problem);
  };
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    return fail(`a Hugging Face config.json must be a JSON object, found ${Array.isArray(json) ? 'an array' : show(json)}`);
  }
  const c = json as Record<string, unknown>;
  const modelType = c.model_type;
  if (modelType === undefined) fail(`has no "model_type"; expected "gpt2" (a Hugging Face GPT-2 config.json)`);
  if (modelType !== 'gpt2') {
    fail(`model_type ${show(modelType)} is not supported: only the GPT-2 family (model_type "gpt2": gpt2, gpt2-medium/large/xl, distilgpt2) is read`);
  }
  const int = (k: keyof typeof HF_DEFAULTS): number => {
    const v = c[k] ?? HF_DEFAULTS[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) fail(`"${k}" must be a positive integer, found ${show(v)}`);
    return v as number;
  };
  const vocab = int('vocab_size');
  const nPos = int('n_positions');
  const nEmbd = int('n_embd');
  const nLayer = int('n_layer');
  const nHead = int('n_head');
  if (nEmbd % nHead !== 0) fail(`n_embd ${nEmbd} is not divisible by n_head ${nHead}`);
  const inner = c.n_inner ?? null;
  if (inner !== null && (typeof inner !== 'number' || !Number.isInteger(inner) || inner < 1)) fail(`"n_inner" must be null or a positive integer, found ${show(inner)}`);
  const eps = c.layer_norm_epsilon ?? HF_DEFAULTS.layer_norm_epsilon;
  if (typeof eps !== 'number' || !(eps > 0) || !Number.isFinite(eps)) fail(`"layer_norm_epsilon" must be a positive number, found ${show(eps)}`);
  const act = c.activation_function ?? HF_DEFAULTS.activation_function;
  const activation = typeof act === 'string' && Object.prototype.hasOwnProperty.call(ACTIVATIONS, act) ? ACTIVATIONS[act] : undefined;
  if (activation === undefined) {
    fail(`activation_function ${show(act)} is not supported (supported: ${Object.keys(ACTIVATIONS).map((a) => `"${a}"`).join(', ')})`);
  }
  const flag = (k: string, dflt: boolean): boolean => {
    const v = c[k] ?? dflt;
    if (typeof v !== 'boolean') fail(`"${k}" must be true or false, found ${show(v)}`);
    return v as boolean;
  };
  if (!flag('scale_attn_weights', true)) fail(`scale_attn_weights false (attention without the 1/sqrt(head size) scale) is not supported`);
  if (flag('scale_attn_by_inverse_layer_idx', false)) fail(`scale_attn_by_inverse_layer_idx true (attention scaled by 1/(layer + 1)) is not supported`);
  if (flag('add_cross_attention', false)) fail(`add_cross_attention true (a GPT-2 decoder with cross-attention) is not supported`);
  const tieWeights = flag('tie_word_embeddings', true);
  return resolveGPTConfig(
    {
      arch: 'gpt2',
      vocabSize: vocab,
      blockSize: nPos,
      nLayer,
      nHead,
      nEmbd,
      ffnHidden: (inner as number | null) ?? 4 * nEmbd,
      dropout: 0,
      bias: true,
      activation,
      normEps: eps as number,
      tieWeights,
    },
    where,
  );
}

/** One expected weight: its HF shape, and whether it is a Conv1D weight ([in, out], transposed on load). */
interface Expected {
  shape: number[];
  conv1d: boolean;
}

/** The trunk's tensors of a GPT-2 with config `c`, by HF name without the `transformer.` prefix. */
function expectedTensors(c: GPTConfig): Map<string, Expected> {
  const C = c.nEmbd;
  const H = c.ffnHidden;
  const m = new Map<string, Expected>();
  const put = (name: string, shape: number[], conv1d = false): void => void m.set(name, { shape, conv1d });
  put('wte.weight', [c.vocabSize, C]);
  put('wpe.weight', [c.blockSize, C]);
  for (let l = 0; l < c.nLayer; l++) {
    const p = `h.${l}.`;
    put(`${p}ln_1.weight`, [C]);
    put(`${p}ln_1.bias`, [C]);
    put(`${p}attn.c_attn.weight`, [C, 3 * C], true);
    put(`${p}attn.c_attn.bias`, [3 * C]);
    put(`${p}attn.c_proj.weight`, [C, C], true);
    put(`${p}attn.c_proj.bias`, [C]);
    put(`${p}ln_2.weight`, [C]);
    put(`${p}ln_2.bias`, [C]);
    put(`${p}mlp.c_fc.weight`, [C, H], true);
    put(`${p}mlp.c_fc.bias`, [H]);
    put(`${p}mlp.c_proj.weight`, [H, C], true);
    put(`${p}mlp.c_proj.bias`, [C]);
  }
  put('ln_f.weight', [C]);
  put('ln_f.bias', [C]);
  return m;
}

/** [rows, cols] row-major -> its transpose [cols, rows]. */
function transpose2d(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) {
    const src = r * cols;
    for (let j = 0; j < cols; j++) out[j * rows + r] = data[src + j];
  }
  return out;
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

/** At most `n` names, then how many more. */
function list(names: string[], n = 6): string {
  const shown = names.slice(0, n).map((s) => `'${s}'`).join(', ');
  return names.length > n ? `${shown} and ${names.length - n} more` : shown;
}

/**
 * Reads a Hugging Face GPT-2 folder (config.json + model.safetensors) into a GPT, in eval mode.
 *
 * @param dir the folder (a Hub snapshot, or what save_pretrained wrote)
 * @returns the model with every weight loaded, and its config
 * @throws Error naming the folder or file when one is missing; FileFormatError naming config.json or
 *   model.safetensors when its contents are wrong (see the module comment)
 */
export function loadHFGpt2(dir: string): { model: GPT; config: GPTConfig } {
  let isDir: boolean;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    throw new Error(`${dir}: no such folder (expected a Hugging Face GPT-2 folder holding config.json and model.safetensors)`);
  }
  if (!isDir) throw new Error(`${dir}: not a folder (expected a Hugging Face GPT-2 folder holding config.json and model.safetensors)`);
  const configPath = join(dir, 'config.json');
  const weightsPath = join(dir, 'model.safetensors');
  if (!existsSync(configPath)) throw new Error(`${configPath}: missing: a Hugging Face GPT-2 folder holds config.json and model.safetensors`);
  if (!existsSync(weightsPath)) {
    const sharded = existsSync(join(dir, 'model.safetensors.index.json'));
    const bin = existsSync(join(dir, 'pytorch_model.bin'));
    const hint = sharded
      ? ' (found model.safetensors.index.json: sharded checkpoints are not read; GPT-2 checkpoints on the Hub are single files)'
      : bin
        ? ' (found pytorch_model.bin: only safetensors is read; download model.safetensors from the Hub or re-save with save_pretrained(safe_serialization=True))'
        : '';
    throw new Error(`${weightsPath}: missing: a Hugging Face GPT-2 folder holds config.json and model.safetensors${hint}`);
  }

  let json: unknown;
  try {
    json = JSON.parse(readFileSync(configPath, 'utf8'));
  } catch (e) {
    if (!(e instanceof SyntaxError)) throw new Error(`cannot read ${configPath}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    throw new FileFormatError(configPath, `not valid JSON (${e.message}): the file is corrupt or not a Hugging Face config.json`, { cause: e });
  }
  const config = gptConfigFromHF(json, configPath);
  const { tensors } = readSafetensors(weightsPath);

  const fail = (problem: string): never => {
    throw new FileFormatError(weightsPath, problem);
  };
  const dims =
    `vocab_size ${config.vocabSize}, n_positions ${config.blockSize}, n_embd ${config.nEmbd}, n_layer ${config.nLayer}, ` +
    `n_head ${config.nHead}, n_inner ${config.ffnHidden}`;
  const mismatch = `check that ${configPath} (${dims}) belongs to these weights`;

  // Gather by prefix-less name; skip the attention buffers of existing layers.
  const expected = expectedTensors(config);
  const found = new Map<string, { name: string; t: SafeTensor }>();
  const unexpected: string[] = [];
  let lmHead: SafeTensor | undefined;
  for (const [name, t] of tensors) {
    if (name === 'lm_head.weight') {
      lmHead = t;
      continue;
    }
    const bare = name.startsWith('transformer.') ? name.slice('transformer.'.length) : name;
    const buffer = /^h\.(\d+)\.attn\.(bias|masked_bias)$/.exec(bare);
    if (buffer && Number(buffer[1]) < config.nLayer) continue;
    if (!expected.has(bare)) {
      unexpected.push(name);
      continue;
    }
    const prev = found.get(bare);
    if (prev) fail(`tensors '${prev.name}' and '${name}' are the same weight (with and without the 'transformer.' prefix): a file must hold each weight once`);
    found.set(bare, { name, t });
  }
  if (unexpected.length) {
    fail(`unexpected tensor${unexpected.length > 1 ? 's' : ''} ${list(unexpected)}: not part of a GPT-2 with this config; ${mismatch}`);
  }
  const missing = [...expected.keys()].filter((k) => !found.has(k));
  if (missing.length) {
    fail(`missing tensor${missing.length > 1 ? 's' : ''} ${list(missing)} (with or without the 'transformer.' prefix); ${mismatch}`);
  }

  // Shapes and dtypes against the config, then the qkv state dict (Conv1D weights transposed).
  const state = new Map<string, Tensor>();
  for (const [bare, e] of expected) {
    const { name, t } = found.get(bare)!;
    if (!FLOAT_DTYPES.has(t.dtype)) fail(`tensor '${name}' has dtype ${t.dtype}; weights must be floating point (${[...FLOAT_DTYPES].join(', ')})`);
    if (t.shape.join() !== e.shape.join()) {
      fail(`tensor '${name}' has shape ${fmt(t.shape)} but ${configPath} implies ${fmt(e.shape)}: the config does not match the weights (${dims})`);
    }
    const data = e.conv1d ? transpose2d(t.data, e.shape[0], e.shape[1]) : t.data;
    const shape = e.conv1d ? [e.shape[1], e.shape[0]] : e.shape;
    state.set(`transformer.${bare}`, new Tensor(data, shape));
  }
  const wte = found.get('wte.weight')!.t;
  if (config.tieWeights) {
    if (lmHead !== undefined && (lmHead.shape.join() !== wte.shape.join() || !sameBits(lmHead.data, wte.data))) {
      fail(
        `tensor 'lm_head.weight' ${fmt(lmHead.shape)} is not equal to wte.weight ${fmt(wte.shape)}, but ${configPath} ties them (tie_word_embeddings true): ` +
          `the head would be silently replaced by wte; set tie_word_embeddings false if the head is a separate matrix`,
      );
    }
    state.set('lm_head.weight', state.get('transformer.wte.weight')!);
  } else {
    if (lmHead === undefined) fail(`missing tensor 'lm_head.weight': ${configPath} unties the head from wte (tie_word_embeddings false), so it must be stored`);
    const head = lmHead as SafeTensor;
    const want = [config.vocabSize, config.nEmbd];
    if (!FLOAT_DTYPES.has(head.dtype)) fail(`tensor 'lm_head.weight' has dtype ${head.dtype}; weights must be floating point (${[...FLOAT_DTYPES].join(', ')})`);
    if (head.shape.join() !== want.join()) {
      fail(`tensor 'lm_head.weight' has shape ${fmt(head.shape)} but ${configPath} implies ${fmt(want)}: the config does not match the weights (${dims})`);
    }
    state.set('lm_head.weight', new Tensor(head.data, want));
  }

  // A fresh generator: building the model must not advance the caller's global random stream.
  const model = new GPT(config, { generator: new Generator(0) });
  model.loadStateDict(state);
  model.eval();
  return { model, config };
}
