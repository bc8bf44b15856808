// The module's exports: every kernel family's file is re-exported here (see README.md for the ABI).
export * from './util';
export * from './matmul';
export * from './attention';
export * from './elementwise';
export * from './nn';
