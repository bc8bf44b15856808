/**
 * Finite-difference gradient checks in float32.
 *
 * The reference backend computes each op in float64 and rounds once, but tensors are float32, so the
 * check is sized for float32: central differences with step h = 1e-2 have truncation error O(h^2 f''')
 * ~1e-4 relative for the smooth ops here, and rounding error ~ eps32 * |loss| / h ~ 1e-5 * |loss|. The
 * loss is a fixed random weighting of the outputs, sum(w * f(x)), accumulated in float64, so every output
 * element's gradient is exercised. Tolerance, per element: |analytic - numeric| <= atol + rtol *
 * max(|analytic|, |numeric|) with rtol 1e-2, atol 1e-2: well above both errors, and sized by that element
 * alone, so that a wrong factor on a small gradient is not hidden by a large one elsewhere (a wrong factor
 * of 2, a missing term or a transposed gradient each give O(1) relative differences).
 */
import assert from 'node:assert/strict';
import { Tensor } from '../../src/tensor/tensor.js';
import { Generator } from '../../src/tensor/random.js';

export interface GradcheckOptions {
  h?: number;
  rtol?: number;
  atol?: number;
  /** Check at most this many elements of each input (chosen at random), to keep big checks fast. */
  maxElements?: number;
  seed?: number;
}

/**
 * Checks d(sum(w * fn(...inputs)))/d(input) from backward() against central differences, for every
 * input that requires grad. `fn` must be deterministic (seed any dropout inside it).
 */
export function gradcheck(fn: (...xs: Tensor[]) => Tensor, inputs: Tensor[], opts: GradcheckOptions = {}): void {
  const { h = 1e-2, rtol = 1e-2, atol = 1e-2, maxElements = 64, seed = 1 } = opts;
  const gen = new Generator(seed);
  const out0 = fn(...inputs);
  const w = Float64Array.from({ length: out0.size }, () => gen.normal());
  const lossOf = (o: Tensor): number => {
    let s = 0;
    for (let i = 0; i < o.size; i++) s += w[i] * o.data[i];
    return s;
  };
  for (const x of inputs) x.zeroGrad();
  out0.backward(new Tensor(Float32Array.from(w), out0.shape));

  inputs.forEach((x, xi) => {
    if (!x.requiresGrad) return;
    assert.ok(x.grad, `gradcheck: input ${xi} ${JSON.stringify(x.shape)} got no gradient`);
    const analytic = x.grad!.data;
    const idx = Array.from({ length: x.size }, (_, i) => i);
    for (let i = idx.length - 1; i > 0; i--) {
      const j = gen.int(0, i + 1);
      [idx[i], idx[j]] = [idx[j], idx[i]];
    }
    for (const i of idx.slice(0, maxElements)) {
      const orig = x.data[i];
      (x.data as Float32Array)[i] = orig + h;
      const fp = lossOf(fn(...inputs));
      (x.data as Float32Array)[i] = orig - h;
      const fm = lossOf(fn(...inputs));
      (x.data as Float32Array)[i] = orig;
      const numeric = (fp - fm) / (2 * h);
      const err = Math.abs(numeric - analytic[i]);
      const bound = atol + rtol * Math.max(Math.abs(numeric), Math.abs(analytic[i]));
      assert.ok(
        err <= bound,
        `gradcheck: input ${xi} ${JSON.stringify(x.shape)} element ${i}: backward gives ${analytic[i]}, finite differences ${numeric} (|diff| ${err.toExponential(2)} > ${bound.toExponential(2)})`,
      );
    }
  });
}

/** A float tensor of the given shape with seeded normal values that requires grad. */
export function param(shape: number[], seed = 0, scale = 1): Tensor {
  return Tensor.randn(shape, { generator: new Generator(seed), std: scale, requiresGrad: true });
}
