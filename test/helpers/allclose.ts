/**
 * allclose with NumPy's meaning: |actual - expected| <= atol + rtol * |expected| elementwise, NaN never
 * equal to anything. `assertClose` throws with the worst element, its index and the max errors.
 */
import assert from 'node:assert/strict';
import { Tensor } from '../../src/tensor/tensor.js';

export interface Tolerance {
  rtol: number;
  atol: number;
}

export interface CloseReport {
  ok: boolean;
  maxAbs: number;
  maxRel: number;
  worst: number;
}

type Values = Tensor | ArrayLike<number>;

function values(x: Values): ArrayLike<number> {
  return x instanceof Tensor ? x.data : x;
}

export function compareClose(actual: Values, expected: Values, tol: Tolerance): CloseReport {
  const a = values(actual);
  const e = values(expected);
  if (a.length !== e.length) return { ok: false, maxAbs: Infinity, maxRel: Infinity, worst: -1 };
  let ok = true;
  let maxAbs = 0;
  let maxRel = 0;
  let worst = -1;
  let worstExcess = -Infinity;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = e[i];
    if (x === y) continue; // also equal infinities
    const d = Math.abs(x - y);
    // As NumPy: an infinity is close only to the same infinity (else atol + rtol * inf would admit anything).
    const bound = Number.isFinite(x) && Number.isFinite(y) ? tol.atol + tol.rtol * Math.abs(y) : -Infinity;
    if (!(d <= bound)) ok = false; // NaN fails here
    if (!(d <= maxAbs)) maxAbs = Number.isNaN(d) ? NaN : Math.max(maxAbs, d);
    const rel = d / Math.max(Math.abs(y), 1e-30);
    if (rel > maxRel || Number.isNaN(rel)) maxRel = rel;
    const excess = Number.isNaN(d) ? Infinity : d - bound;
    if (excess > worstExcess) {
      worstExcess = excess;
      worst = i;
    }
  }
  return { ok, maxAbs, maxRel, worst };
}

export function assertClose(actual: Values, expected: Values, tol: Tolerance, what = 'values'): CloseReport {
  const a = values(actual);
  const e = values(expected);
  if (actual instanceof Tensor && expected instanceof Tensor) {
    assert.deepEqual([...actual.shape], [...expected.shape], `${what}: shape ${JSON.stringify(actual.shape)} != ${JSON.stringify(expected.shape)}`);
  }
  assert.equal(a.length, e.length, `${what}: ${a.length} values, expected ${e.length}`);
  const r = compareClose(a, e, tol);
  if (!r.ok) {
    assert.fail(
      `${what}: not close (rtol ${tol.rtol}, atol ${tol.atol}): at index ${r.worst} got ${a[r.worst]}, expected ${e[r.worst]}; max abs error ${r.maxAbs.toExponential(2)}, max rel error ${r.maxRel.toExponential(2)}`,
    );
  }
  return r;
}
