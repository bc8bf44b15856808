#!/usr/bin/env node
/** The `qkv` executable. */
import { setBackend, listBackends } from '../backend/backend.js';
import { registerJsBackend } from '../backend/js/index.js';
import { main, reportError } from './main.js';

// The fast pure-TypeScript kernels give results bitwise equal to the reference ones (tested), so the
// command line uses them; QKV_BACKEND=reference picks the specification instead.
registerJsBackend();
const wanted = process.env.QKV_BACKEND ?? 'js';
if (!listBackends().includes(wanted)) {
  console.error(`qkv: QKV_BACKEND=${wanted} is not a backend (available: ${listBackends().join(', ')})`);
  process.exit(2);
}
setBackend(wanted);

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.exitCode = reportError(err);
  },
);
