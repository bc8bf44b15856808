/** Reference layout kernels. (Filled in by the shape-ops work.) */
import type { LayoutKernels } from '../kernels/layout.js';

const todo = (name: string) => (): never => {
  throw new Error(`reference backend: ${name} is not written yet`);
};

export const layout: LayoutKernels = {
  permute: todo('permute'),
  slice: todo('slice'),
  unslice: todo('unslice'),
  concat: todo('concat'),
  where: todo('where'),
};
