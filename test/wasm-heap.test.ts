/**
 * The wasm backend's memory: tensors live in WebAssembly memory, blocks are reused by size class, and
 * nothing leaks: after a training step's tensors become garbage, every block they held is free again.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { setBackend } from '../src/backend/backend.js';
import { wasmRuntime, configureWasm } from '../src/backend/wasm/index.js';
import { sizeClass } from '../src/backend/wasm/heap.js';
import { Tensor } from '../src/tensor/tensor.js';
import { Generator } from '../src/tensor/random.js';
import { GPT } from '../src/models/gpt.js';
import { AdamW } from '../src/optim/adamw.js';
import { sampleBatch } from '../src/data/batches.js';

// A full garbage collection on demand (the test runner does not pass --expose-gc to this process).
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Collects garbage and lets the FinalizationRegistry callbacks (which run between tasks) free blocks. */
async function settle(): Promise<void> {
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('size classes: 64-byte multiples up to 4 KiB, then at most 25% over the request', () => {
  assert.equal(sizeClass(0), 64);
  assert.equal(sizeClass(1), 64);
  assert.equal(sizeClass(65), 128);
  assert.equal(sizeClass(4096), 4096);
  for (const b of [4097, 5000, 65537, 393216, 1e6 + 3, 123456789]) {
    const c = sizeClass(b);
    assert.ok(c >= b && c <= b * 1.25 + 64, `class ${c} for ${b}`);
    assert.equal(c % 64, 0);
  }
});

test('the wasm backend keeps tensors in WebAssembly memory; a tensor made elsewhere is copied in once', () => {
  const prev = setBackend('wasm');
  try {
    const heap = wasmRuntime().heap;
    const src = Float32Array.from([1, 2, 3]);
    const t = new Tensor(src, [3]);
    assert.ok(heap.owns(t.data), 'data adopted into wasm memory');
    assert.notEqual(t.data, src);
    assert.deepEqual([...t.data], [1, 2, 3]);
    const u = t.add(t);
    assert.ok(heap.owns(u.data), 'op output in wasm memory');
    assert.deepEqual([...u.data], [2, 4, 6]);
    assert.equal(t.data.byteOffset % 64, 0, '64-byte aligned');
    const same = new Tensor(t.data, [3]);
    assert.equal(same.data, t.data, 'data already in wasm memory is not copied');
  } finally {
    setBackend(prev);
  }
});

test('views stay valid when the memory grows', () => {
  const heap = wasmRuntime().heap;
  const a = heap.allocF32(1000);
  a.fill(7);
  const before = heap.getStats().memoryBytes;
  const big = heap.allocF32(before / 4 + 1); // more than the whole memory: forces a growth
  assert.ok(heap.getStats().memoryBytes > before);
  big[big.length - 1] = 1;
  assert.equal(a.length, 1000);
  assert.ok(a.every((x) => x === 7));
});

test('no leak: training steps of a GPT on the wasm backend return every block once their tensors are garbage', async () => {
  const prev = setBackend('wasm');
  const heap = wasmRuntime().heap;
  try {
    configureWasm({ threads: 2 });
    const tokens = Int32Array.from({ length: 2000 }, (_, i) => (i * 7) % 13);
    const step = (model: GPT, opt: AdamW, g: Generator): number => {
      const { x, y } = sampleBatch(tokens, 4, 16, g);
      const { loss } = model.forward(x, { targets: y });
      opt.zeroGrad();
      loss!.backward();
      opt.step();
      return loss!.item();
    };
    const run = async (steps: number): Promise<void> => {
      const g = new Generator(1);
      const model = new GPT({ vocabSize: 13, blockSize: 16, nLayer: 2, nHead: 2, nEmbd: 32 }, { generator: g });
      const opt = new AdamW(model.parameters(), { lr: 1e-3 });
      for (let i = 0; i < steps; i++) {
        assert.ok(Number.isFinite(step(model, opt, g)));
        await new Promise((r) => setImmediate(r));
      }
    };
    await run(1); // warms caches that live on purpose (none today, but a cache must not count as a leak)
    await settle();
    const base = heap.getStats();
    await run(5);
    const during = heap.getStats();
    assert.ok(during.liveBytes > base.liveBytes, 'the run made tensors in wasm memory (else this test proves nothing)');
    await settle();
    const after = heap.getStats();
    assert.equal(after.liveBlocks, base.liveBlocks, `blocks live before ${base.liveBlocks}, after ${after.liveBlocks}`);
    assert.equal(after.liveBytes, base.liveBytes);
  } finally {
    setBackend(prev);
  }
});
