/**
 * Flags named after option keys: `maxIters` is `--max-iters` (nanoGPT's `--max_iters` spelling works
 * too), typed by the default value (number, boolean, string, string list).
 */
import { parseArgs } from 'node:util';
import { UsageError } from './usage-error.js';

export const kebab = (k: string): string => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

type Spec = Record<string, number | boolean | string | readonly string[]>;

/**
 * Parses `argv` against `spec` (key -> default, which gives the type) plus `extra` plain flags.
 * Returns the values that were given (as typed values) and the positionals.
 */
export function parseFlags<S extends Spec>(
  argv: string[],
  spec: S,
  help: string,
  extra: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {},
  allowPositionals = false,
): { values: Partial<{ [K in keyof S]: S[K] extends number ? number : S[K] extends boolean ? boolean : S[K] extends readonly string[] ? string[] : string }>; extra: Record<string, string | boolean | string[] | undefined>; positionals: string[] } {
  const norm = argv.map((a) => (a.startsWith('--') ? a.replace(/^--([^=]+)/, (_m, name: string) => `--${name.replace(/_/g, '-')}`) : a));
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = { ...extra };
  for (const [k, v] of Object.entries(spec)) options[kebab(k)] = { type: 'string', multiple: Array.isArray(v) };
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({ args: norm, options, strict: true, allowPositionals });
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e), help);
  }
  const values: Record<string, unknown> = {};
  for (const [k, dflt] of Object.entries(spec)) {
    const flag = kebab(k);
    const raw = parsed.values[flag];
    if (raw === undefined) continue;
    if (typeof dflt === 'number') {
      const s = raw as string;
      const n = Number(s);
      if (s.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${flag} must be a number, got '${s}'`, help);
      values[k] = n;
    } else if (typeof dflt === 'boolean') {
      const s = (raw as string).toLowerCase();
      if (!['true', 'false', '1', '0'].includes(s)) throw new UsageError(`--${flag} must be true or false, got '${raw as string}'`, help);
      values[k] = s === 'true' || s === '1';
    } else values[k] = raw;
  }
  const extraValues: Record<string, string | boolean | string[] | undefined> = {};
  for (const k of Object.keys(extra)) extraValues[k] = parsed.values[k] as string | boolean | string[] | undefined;
  return { values: values as never, extra: extraValues, positionals: parsed.positionals };
}
