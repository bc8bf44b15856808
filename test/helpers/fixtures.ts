/** Loads fixture files written by fixtures/*.py (format in fixtures/common.py). */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Tensor } from '../../src/tensor/tensor.js';

export interface FixtureTensor {
  shape: number[];
  dtype?: 'bool';
  data: (number | 'inf' | '-inf' | 'nan')[];
}

export interface FixtureCase {
  inputs: Record<string, FixtureTensor>;
  params: Record<string, unknown>;
  outputs: Record<string, FixtureTensor>;
  grads: Record<string, FixtureTensor>;
}

export interface FixtureFile {
  generator: string;
  torch: string;
  cases: Record<string, FixtureCase>;
}

/** Reads fixtures/<name> relative to the repository root (works from dist/test too). */
export function loadFixture(name: string): FixtureFile {
  const root = fileURLToPath(new URL('../../../', import.meta.url));
  return JSON.parse(readFileSync(`${root}fixtures/${name}`, 'utf8')) as FixtureFile;
}

/** A fixture tensor as a qkv tensor (bool stays bool). */
export function toTensor(t: FixtureTensor, requiresGrad = false): Tensor {
  const data = Float32Array.from(t.data, (v) => (v === 'inf' ? Infinity : v === '-inf' ? -Infinity : v === 'nan' ? NaN : v));
  return new Tensor(data, t.shape, t.dtype === 'bool' ? false : requiresGrad, null, t.dtype === 'bool' ? 'bool' : 'float32');
}
