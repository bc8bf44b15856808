#!/usr/bin/env node
/** The `qkv` command line. Each command lives in its own file; this one only dispatches. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runDemo, DEMO_HELP } from './demo.js';

const HELP = `qkv: self-attention and transformers from the tensor up, in TypeScript.

Usage:
  qkv demo [options]     train a small transformer to reverse sequences, then show its accuracy and
                         one attention head as a table (the anti-diagonal it learned)
  qkv --help, -h         this help (qkv demo --help for the demo's options)
  qkv --version, -v      the version

Run with no command to see this help.`;

function version(): string {
  const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../../../package.json', import.meta.url)), 'utf8')) as { version: string };
  return pkg.version;
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    console.log(HELP);
    return 0;
  }
  if (cmd === '--version' || cmd === '-v') {
    console.log(version());
    return 0;
  }
  if (cmd === 'demo') {
    if (rest.includes('--help') || rest.includes('-h')) {
      console.log(DEMO_HELP);
      return 0;
    }
    return runDemo(rest);
  }
  console.error(`qkv: unknown command '${cmd}'. Commands: demo. See qkv --help.`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    // One clear line for the user's mistakes; the stack only when asked for.
    console.error(`qkv: ${err instanceof Error ? err.message : String(err)}`);
    if (process.env.QKV_DEBUG && err instanceof Error) console.error(err.stack);
    process.exitCode = 1;
  },
);
