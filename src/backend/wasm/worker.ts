/** Entry point of a wasm kernel worker thread (Node worker_threads): see pool.ts. */
import { workerData } from 'node:worker_threads';
import { workerLoop, type PoolWorkerData } from './pool.js';

workerLoop(workerData as PoolWorkerData);
