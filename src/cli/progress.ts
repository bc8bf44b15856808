/**
 * A progress line for long work: step, loss, throughput and time left. On a terminal it rewrites one
 * line in place; elsewhere (CI logs, pipes) it prints a line every `everySteps` steps so logs stay short.
 */
export interface ProgressFields {
  step: number;
  total: number;
  loss: number;
  /** Extra fields printed after the loss, e.g. { acc: '97.1%', lr: '3.0e-3' }. */
  extra?: Record<string, string>;
  /** Items processed so far (tokens, examples), for the rate. */
  items: number;
}

export class Progress {
  private readonly start = performance.now();
  private readonly tty: boolean;

  constructor(
    private readonly out: NodeJS.WriteStream = process.stderr,
    private readonly unit = 'tok',
    private readonly everySteps = 25,
  ) {
    this.tty = Boolean(out.isTTY);
  }

  update(f: ProgressFields): void {
    const last = f.step === f.total;
    if (!this.tty && !last && f.step % this.everySteps !== 0 && f.step !== 1) return;
    const elapsed = (performance.now() - this.start) / 1000;
    const rate = f.items / Math.max(elapsed, 1e-9);
    const left = f.step > 0 ? (elapsed / f.step) * (f.total - f.step) : 0;
    const extra = Object.entries(f.extra ?? {}).map(([k, v]) => ` ${k} ${v}`).join('');
    const width = String(f.total).length;
    const line = `step ${String(f.step).padStart(width)}/${f.total} loss ${f.loss.toFixed(4)}${extra} | ${formatRate(rate)} ${this.unit}/s | ${formatTime(elapsed)} elapsed, ${formatTime(left)} left`;
    if (this.tty) this.out.write(`\r\x1b[2K${line}${last ? '\n' : ''}`);
    else this.out.write(`${line}\n`);
  }
}

export function formatTime(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${s.toFixed(0)}s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

function formatRate(r: number): string {
  return r >= 1e6 ? `${(r / 1e6).toFixed(2)}M` : r >= 1e3 ? `${(r / 1e3).toFixed(1)}k` : r.toFixed(0);
}
