/**
 * qkv: self-attention and transformers from the tensor up.
 * The data path reads top to bottom: tokens -> embeddings -> attention blocks -> logits -> loss or samples.
 */
import './ops/methods.js';

export { Tensor, noGrad, isGradEnabled, type DType, type NestedArray } from './tensor/tensor.js';
export { Generator, manualSeed, globalGenerator } from './tensor/random.js';
export { ShapeError, type Shape } from './tensor/shape.js';
export { backend, setBackend, registerBackend, listBackends, type Backend } from './backend/backend.js';

export * from './ops/elementwise.js';
export { matmul, type MatmulOptions } from './ops/matmul.js';
export * from './ops/reduce.js';
export * from './ops/shape.js';
export * from './ops/nn.js';

export { Module } from './nn/module.js';
export { Linear, type LinearOptions } from './nn/linear.js';
