/** Elementwise kernels: unary maps and broadcasting binary ops. */

export type UnaryOp =
  | 'neg' | 'exp' | 'log' | 'sqrt' | 'rsqrt' | 'abs' | 'tanh' | 'sigmoid' | 'relu'
  | 'gelu_tanh' // GELU, tanh approximation (PyTorch approximate='tanh', GPT-2)
  | 'gelu_erf' // GELU, exact with erf (PyTorch approximate='none')
  | 'silu';

export type BinaryOp = 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'maximum' | 'minimum' | CompareOp;
/** Comparisons give 1 (true) or 0 (false). */
export type CompareOp = 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge';

export interface ElementwiseKernels {
  /** y[i] = f(x[i]). */
  unary(op: UnaryOp, x: Float32Array): Float32Array;
  /** dx[i] = f'(x[i]) * dy[i]; `y` is the forward output (cheaper for exp, tanh, sigmoid). */
  unaryBackward(op: UnaryOp, x: Float32Array, y: Float32Array, dy: Float32Array): Float32Array;
  /** out = a (op) b with NumPy broadcasting; shapes are already checked and `outShape` computed. */
  binary(op: BinaryOp, a: Float32Array, aShape: readonly number[], b: Float32Array, bShape: readonly number[], outShape: readonly number[]): Float32Array;
  /** y[i] = x[i] (op) s for a scalar s (or s (op) x[i] when `scalarFirst`). */
  scalar(op: BinaryOp, x: Float32Array, s: number, scalarFirst: boolean): Float32Array;
}
