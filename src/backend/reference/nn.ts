/** Reference fused NN kernels. (Filled in by the nn-ops work.) */
import type { NNKernels } from '../kernels/nn.js';

const todo = (name: string) => (): never => {
  throw new Error(`reference backend: ${name} is not written yet`);
};

export const nn: NNKernels = {
  softmax: todo('softmax'),
  softmaxBackward: todo('softmaxBackward'),
  logSoftmax: todo('logSoftmax'),
  logSoftmaxBackward: todo('logSoftmaxBackward'),
  layerNorm: todo('layerNorm'),
  layerNormBackward: todo('layerNormBackward'),
  rmsNorm: todo('rmsNorm'),
  rmsNormBackward: todo('rmsNormBackward'),
  gather: todo('gather'),
  scatterAdd: todo('scatterAdd'),
};
