/** The `qkv` command line: dispatches to one file per command. `bin.ts` runs it; importing it runs nothing. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runDemo, DEMO_HELP } from './demo.js';
import { runTrain, TRAIN_HELP } from './train.js';
import { runSample, SAMPLE_HELP } from './sample.js';
import { UsageError } from './usage-error.js';

const HELP = `qkv: self-attention and transformers from the tensor up, in TypeScript.

Usage:
  qkv train [FILE...] [options]
                         train a GPT on text (default: the built-in Brown corpus), as nanoGPT;
                         writes a model folder and loss.svg, then prints a sample
  qkv sample --model DIR [--prompt TEXT] [options]
                         generate from a trained model or a Hugging Face GPT-2 folder
  qkv demo [options]     train a small transformer to reverse sequences, then show its accuracy and
                         one attention head as a table (the anti-diagonal it learned) and as pictures
  qkv --help, -h         this help (qkv COMMAND --help for a command's options)
  qkv --version, -v      the version

Run with no command to see this help. Set QKV_DEBUG=1 to see the stack trace of an error.`;

function version(): string {
  const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../../../package.json', import.meta.url)), 'utf8')) as { version: string };
  return pkg.version;
}

/** Runs the command line `argv` (without node and the script) and returns the exit code. */
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
  const commands: Record<string, [(a: string[]) => number | Promise<number>, string]> = { train: [runTrain, TRAIN_HELP], sample: [runSample, SAMPLE_HELP] };
  const c = commands[cmd];
  if (c !== undefined && Object.hasOwn(commands, cmd)) {
    if (rest.includes('--help') || rest.includes('-h')) {
      console.log(c[1]);
      return 0;
    }
    return c[0](rest);
  }
  throw new UsageError(`unknown command '${cmd}'. Commands: train, sample, demo.`);
}

/** Exit code and one clear line for an error: 2 for a usage mistake (with where to read more), 1 otherwise. */
export function reportError(err: unknown): number {
  if (err instanceof UsageError) {
    console.error(`qkv: ${err.message}\nSee ${err.help}.`);
    return 2;
  }
  console.error(`qkv: ${err instanceof Error ? err.message : String(err)}`);
  if (process.env.QKV_DEBUG && err instanceof Error) console.error(err.stack); // the stack only when asked for
  return 1;
}
