/** The reference backend: plain TypeScript loops, the specification that faster backends are tested against. */
import type { Backend } from '../backend.js';
import { elementwise } from './elementwise.js';
import { matmul } from './matmul.js';
import { reduce } from './reduce.js';
import { layout } from './layout.js';
import { nn } from './nn.js';
import { attention } from './attention.js';
import { optim } from './optim.js';

export const referenceBackend: Backend = {
  name: 'reference',
  ...elementwise,
  ...matmul,
  ...reduce,
  ...layout,
  ...nn,
  ...attention,
  ...optim,
};
