/**
 * The learning test: a 2-layer transformer trained with qkv's AdamW learns to reverse sequences of 8
 * random tokens. It asserts accuracy on 2000 sequences it never saw, not time (the time is printed).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_REVERSAL, trainReversal } from '../src/tasks/reversal.js';

test('a 2-layer transformer learns to reverse 8 random tokens to above 99% token accuracy', async (t) => {
  const config = { ...DEFAULT_REVERSAL, layers: 2, length: 8, seed: 0 };
  const losses: number[] = [];
  const r = await trainReversal(config, (s) => losses.push(s.loss));
  t.diagnostic(`token accuracy ${(100 * r.accuracy).toFixed(2)}% after ${config.steps} steps in ${r.seconds.toFixed(1)}s; loss ${losses[0].toFixed(3)} -> ${r.finalLoss.toFixed(4)}`);
  assert.ok(losses[0] > 2, `the untrained loss ${losses[0]} should be near ln(10) = 2.30`);
  assert.ok(r.accuracy > 0.99, `token accuracy ${r.accuracy} should exceed 0.99`);
});
