/** Shared by the benchmarks: backend discovery, option parsing, statistics, machine facts. */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import '../src/index.js'; // the op methods, and whatever backends the library registers itself
import { listBackends } from '../src/backend/backend.js';
import { registerJsBackend, jsMatmulStats } from '../src/backend/js/index.js';
import { registerWasmBackend } from '../src/backend/wasm/index.js';

/**
 * The backends this build has: 'reference', 'js' (pure TypeScript, bitwise equal to the reference) and
 * 'wasm' (WebAssembly SIMD on every core). Importing their modules registers them.
 */
export async function availableBackends(): Promise<string[]> {
  registerJsBackend();
  registerWasmBackend();
  return listBackends();
}

/**
 * How the js backend's matmul shared its work with its helper worker thread so far (jsMatmulStats, if
 * that backend exports it): the share of matmul chunks the worker computed. null without it.
 */
export function jsWorkerShare(): { worker: string; threadedCalls: number; calls: number; workerShare: number } | null {
  const s = jsMatmulStats();
  return { worker: s.worker, calls: s.calls, threadedCalls: s.threadedCalls, workerShare: s.chunks > 0 ? s.workerChunks / s.chunks : 0 };
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * The backends named by `--<name> a,b` (default: every available one), each checked to be available;
 * `who` names the script in the error.
 */
export function wantedBackends(argv: readonly string[], name: string, available: readonly string[], who: string): string[] {
  const wanted = option(argv, name, available.join(','))
    .split(',')
    .filter((s) => s !== '');
  for (const b of wanted) if (!available.includes(b)) throw new Error(`${who}: backend '${b}' is not available (have: ${available.join(', ')})`);
  return wanted;
}

/**
 * `--name value` / `--name=value` flags, with an environment fallback BENCH_NAME (dashes as underscores,
 * upper case), then the default.
 */
export function option(argv: readonly string[], name: string, dflt: string): string {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === `--${name}` && i + 1 < argv.length) return argv[i + 1];
    if (argv[i].startsWith(`--${name}=`)) return argv[i].slice(name.length + 3);
  }
  const env = process.env[`BENCH_${name.replace(/-/g, '_').toUpperCase()}`];
  return env !== undefined && env !== '' ? env : dflt;
}

export function intOption(argv: readonly string[], name: string, dflt: number, min = 0): number {
  const raw = option(argv, name, String(dflt));
  const v = Number(raw);
  if (!Number.isInteger(v) || v < min) throw new Error(`bench: --${name} must be an integer >= ${min}, got '${raw}'`);
  return v;
}

export function flag(argv: readonly string[], name: string): boolean {
  if (argv.includes(`--${name}`)) return true;
  const env = process.env[`BENCH_${name.replace(/-/g, '_').toUpperCase()}`];
  return env !== undefined && env !== '' && env !== '0' && env !== 'false';
}

/** True when this module file is the script node was started with. */
export function isMain(importMetaUrl: string): boolean {
  return process.argv[1] !== undefined && fileURLToPath(importMetaUrl) === process.argv[1];
}

export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGiB: number;
  node: string;
  os: string;
  loadAverage: number[];
}

export function machineInfo(): MachineInfo {
  let cpu = os.cpus()[0]?.model ?? 'unknown';
  try {
    const m = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) cpu = m[1].trim();
  } catch {
    // not Linux: os.cpus() is the answer
  }
  return {
    cpu,
    cores: os.availableParallelism?.() ?? os.cpus().length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    loadAverage: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

/**
 * Share of the CPUs busy over `ms` milliseconds (from /proc/stat; null elsewhere): read before a run
 * to tell whether other work shares the machine (containers do not see each other's processes).
 */
export async function cpuBusy(ms = 1000): Promise<number | null> {
  const read = (): number[] | null => {
    try {
      const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
      return line.trim().split(/\s+/).slice(1).map(Number);
    } catch {
      return null;
    }
  };
  const a = read();
  await new Promise((r) => setTimeout(r, ms));
  const b = read();
  if (!a || !b) return null;
  const d = b.map((v, i) => v - a[i]);
  const total = d.reduce((s, v) => s + v, 0);
  const idle = d[3] + (d[4] ?? 0); // idle + iowait
  return total > 0 ? 1 - idle / total : null;
}
