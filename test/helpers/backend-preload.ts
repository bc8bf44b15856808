/**
 * Loaded before every test file (scripts/test.mjs passes it with --import): selects the backend named by
 * QKV_TEST_BACKEND, so that each test, written once, runs on every backend. QKV_TEST_RELAXED=1 turns on
 * relaxed SIMD (Node 20 has it behind a V8 flag) before the wasm module is compiled.
 */
import { setBackend } from '../../src/backend/backend.js';
import { enableRelaxedSimdFlag } from '../../src/backend/wasm/module.js';

const name = process.env.QKV_TEST_BACKEND;
if (process.env.QKV_TEST_RELAXED === '1') enableRelaxedSimdFlag();
if (name === 'wasm') await import('../../src/backend/wasm/index.js');
if (name === 'js') await import('../../src/backend/js/index.js');
if (name !== undefined && name !== '') setBackend(name);
