/** Token streams to training batches, as nanoGPT's train.py: a train/val split and random windows. */
import { Tensor } from '../tensor/tensor.js';
import type { Generator } from '../tensor/random.js';

/**
 * Train/val split as nanoGPT: the first floor(n * (1 - valFraction)) tokens train, the rest val (no
 * shuffling: val is the end of the text). Both are views of `tokens` (subarray), not copies.
 */
export function splitTokens(tokens: Int32Array, valFraction = 0.1): { train: Int32Array; val: Int32Array } {
  if (!(valFraction >= 0 && valFraction < 1)) {
    throw new Error(`splitTokens: valFraction must be in [0, 1), got ${valFraction}`);
  }
  const n = Math.floor(tokens.length * (1 - valFraction));
  return { train: tokens.subarray(0, n), val: tokens.subarray(n) };
}

/**
 * nanoGPT's get_batch: `batchSize` random windows of `data`; row b of x is data[i : i+blockSize] and of y
 * data[i+1 : i+1+blockSize] (the next token at every position), i uniform in [0, data.length - blockSize).
 * Returns float32 tensors of shape [batchSize, blockSize] holding the token ids (exact up to 2^24).
 *
 * Randomness: exactly `batchSize` draws from `generator` (one `nextUint32` each, through
 * `generator.int`, i = floor(u * n) with u a multiple of 2^-32), row by row, and nothing else: the draw
 * count is part of exact resume (a run restarted from a checkpoint's generator state samples the same
 * batches). A fixed count rules out rejection sampling; the price is a bias of at most n / 2^32 relative
 * between start positions (below 0.1% for n under 4 million tokens), far below what training can notice.
 */
export function sampleBatch(data: Int32Array, batchSize: number, blockSize: number, generator: Generator): { x: Tensor; y: Tensor } {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`sampleBatch: batchSize must be a positive integer, got ${batchSize}`);
  if (!Number.isInteger(blockSize) || blockSize < 1) throw new Error(`sampleBatch: blockSize must be a positive integer, got ${blockSize}`);
  if (data.length < blockSize + 1) {
    throw new Error(
      `sampleBatch: the split has ${data.length} tokens, fewer than one block of blockSize + 1 = ${blockSize + 1}: use a smaller block size or more text`,
    );
  }
  const starts = data.length - blockSize; // i in [0, starts)
  const x = new Float32Array(batchSize * blockSize);
  const y = new Float32Array(batchSize * blockSize);
  for (let b = 0; b < batchSize; b++) {
    const i = generator.int(0, starts);
    const row = b * blockSize;
    for (let t = 0; t < blockSize; t++) {
      x[row + t] = data[i + t];
      y[row + t] = data[i + t + 1];
    }
  }
  return { x: new Tensor(x, [batchSize, blockSize]), y: new Tensor(y, [batchSize, blockSize]) };
}
