/** Undoing broadcasting in backward passes. */
import { backend } from '../backend/backend.js';
import { broadcastedAxes, sameShape, type Shape } from '../tensor/shape.js';

/** Sums `grad` (of `outShape`) over the axes that broadcasting added or stretched, giving `inShape`'s size. */
export function unbroadcast(grad: Float32Array, outShape: Shape, inShape: Shape): Float32Array {
  if (sameShape(outShape, inShape)) return grad;
  const axes = broadcastedAxes(inShape, outShape);
  return backend().sum(grad, outShape, axes);
}
