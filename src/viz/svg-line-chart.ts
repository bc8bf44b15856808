/**
 * Line charts as SVG, made for training curves: axes with 1-2-5 tick values, gridlines, a legend, and
 * an optional logarithmic y axis (a loss that falls from 2.3 to 5e-4 is a flat line at zero on a linear
 * one). Pure function: points in, SVG text out.
 */
import { FONT, escapeXml, num, svgDocument, textWidth } from './svg.js';

export interface Series {
  name: string;
  /** [x, y] pairs; non-finite ones (and y <= 0 on a log axis) are skipped, breaking the line there. */
  points: readonly (readonly [number, number])[];
}

export interface LineChartOptions {
  title?: string;
  xLabel?: string;
  yLabel?: string;
  /** Logarithmic y axis. */
  logY?: boolean;
  /** The y axis covers at least this range (e.g. [0, 100] for a percentage), more if the data need it. */
  yRange?: readonly [number, number];
  /** Size in px (default 720 x 420). */
  width?: number;
  height?: number;
}

interface Tick {
  value: number;
  label: string;
  /** Gridline only (log axis 2..9 multiples), no label. */
  minor?: boolean;
}

// Colour-blind-safe (Okabe-Ito) first, so two series stay distinguishable for everyone.
const COLOURS = ['#0072b2', '#d55e00', '#009e73', '#cc79a7', '#e69f00', '#56b4e9', '#000000'];

/** Rounds away float noise (0.30000000000000004) so labels and comparisons are clean. */
const clean = (v: number) => Number(v.toPrecision(12));

function linearLabel(v: number, step: number): string {
  if (v === 0) return '0';
  if (Math.abs(v) >= 1e6 || Math.abs(v) < 1e-4) return v.toExponential(Math.max(0, -Math.floor(Math.log10(step)) + Math.floor(Math.log10(Math.abs(v))))).replace('e+', 'e');
  return v.toFixed(Math.max(0, -Math.floor(Math.log10(step) + 1e-9)));
}

/**
 * About `target` ticks at a round step (1, 2 or 5 times a power of ten) covering [lo, hi]; the returned
 * domain is widened to the outer ticks so the axis starts and ends on a labelled value.
 */
export function linearTicks(lo: number, hi: number, target = 5): { domain: [number, number]; ticks: Tick[] } {
  if (hi - lo < 1e-12 * Math.max(1, Math.abs(lo))) {
    // Constant data: centre it in a unit-sized range rather than divide by a zero span.
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  const raw = (hi - lo) / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  const step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
  const first = Math.floor(clean(lo / step));
  const last = Math.ceil(clean(hi / step));
  const ticks: Tick[] = [];
  for (let k = first; k <= last; k++) {
    const v = clean(k * step);
    ticks.push({ value: v, label: linearLabel(v, step) });
  }
  return { domain: [clean(first * step), clean(last * step)], ticks };
}

/** m * 10^e as text: plain decimals from 0.0001 to 100000, else '5e-5' (never a long float). */
function logLabel(m: number, e: number): string {
  if (e >= -4 && e <= 5) return e >= 0 ? String(m * 10 ** e) : (m / 10 ** -e).toFixed(-e);
  return `${m}e${e}`;
}

/**
 * Ticks for a log axis over [lo, hi] (both > 0). Few decades: labels at 1, 2 and 5 times each power of
 * ten and the domain hugs the data; more: one label per decade (or every other, ...) with faint
 * gridlines at the 2..9 multiples.
 */
export function logTicks(lo: number, hi: number): { domain: [number, number]; ticks: Tick[] } {
  let d0 = Math.floor(Math.log10(lo) + 1e-9);
  let d1 = Math.ceil(Math.log10(hi) - 1e-9);
  if (d1 <= d0) d1 = d0 + 1; // constant data, or exactly a power of ten
  const ticks: Tick[] = [];
  if (d1 - d0 <= 2) {
    const cands: { m: number; e: number; v: number }[] = [];
    for (let e = d0 - 1; e <= d1; e++) for (const m of [1, 2, 5]) cands.push({ m, e, v: clean(m * 10 ** e) });
    let a = 0;
    while (a + 1 < cands.length && cands[a + 1].v <= lo * (1 + 1e-9)) a++;
    let b = cands.findIndex((c) => c.v >= hi * (1 - 1e-9));
    if (a === b) [a, b] = [a - 1, b + 1]; // constant data on a tick: one step either side
    const [vlo, vhi] = [cands[a].v, cands[b].v];
    for (const c of cands.slice(a, b + 1)) ticks.push({ value: c.v, label: logLabel(c.m, c.e) });
    for (let e = d0 - 1; e <= d1; e++) {
      for (const m of [3, 4, 6, 7, 8, 9]) {
        const v = clean(m * 10 ** e);
        if (v > vlo && v < vhi) ticks.push({ value: v, label: '', minor: true });
      }
    }
    return { domain: [vlo, vhi], ticks };
  }
  const every = Math.ceil((d1 - d0) / 8);
  d0 = Math.floor(d0 / every) * every;
  d1 = d0 + Math.ceil((d1 - d0) / every) * every; // both ends labelled
  for (let e = d0; e <= d1; e++) {
    if ((e - d0) % every === 0) ticks.push({ value: clean(10 ** e), label: logLabel(1, e) });
    if (e < d1 && every === 1) for (let m = 2; m <= 9; m++) ticks.push({ value: clean(m * 10 ** e), label: '', minor: true });
  }
  return { domain: [clean(10 ** d0), clean(10 ** d1)], ticks };
}

/**
 * A line chart of one or more series, as a standalone SVG document.
 *
 * Empty input draws the axes over [0, 1] with "no data"; a single point is drawn as a dot; a constant
 * series gets a small range around its value. The output never contains 'NaN'.
 */
export function lineChartSvg(series: readonly Series[], opts: LineChartOptions = {}): string {
  const W = opts.width ?? 720;
  const H = opts.height ?? 420;
  const logY = opts.logY ?? false;
  const usable = (p: readonly [number, number]) => Number.isFinite(p[0]) && Number.isFinite(p[1]) && (!logY || p[1] > 0);
  const all = series.flatMap((s) => s.points.filter(usable));
  // Loops, not Math.min(...xs): spreading a long training history would overflow the call stack.
  let [xlo, xhi, ylo, yhi] = [Infinity, -Infinity, Infinity, -Infinity];
  for (const [x, y] of all) [xlo, xhi, ylo, yhi] = [Math.min(xlo, x), Math.max(xhi, x), Math.min(ylo, y), Math.max(yhi, y)];
  for (const v of opts.yRange ?? []) if (Number.isFinite(v) && (!logY || v > 0)) [ylo, yhi] = [Math.min(ylo, v), Math.max(yhi, v)];
  const xt = all.length ? linearTicks(xlo, xhi) : linearTicks(0, 1);
  const yKnown = Number.isFinite(ylo);
  const yt = logY ? logTicks(yKnown ? ylo : 0.1, yKnown ? yhi : 1) : linearTicks(yKnown ? ylo : 0, yKnown ? yhi : 1);

  const font = 12;
  // A minimum gutter for the y tick labels, so charts stacked one above the other share their x positions.
  const yLabelW = Math.max(textWidth('0.0001', font), ...yt.ticks.map((t) => textWidth(t.label, font)));
  const left = 16 + (opts.yLabel ? 22 : 0) + yLabelW + 8;
  const right = 24;
  const pw = Math.max(40, W - left - right);
  // The legend is a row (wrapping if need be) between the title and the plot: inside the plot it would
  // hide data (a loss falls into one corner, an accuracy rises into another); beside it, it would
  // make plots of stacked charts differ in width.
  const legend: { x: number; row: number }[] = [];
  let lx = 0;
  let row = 0;
  for (const s of series) {
    const w = 28 + textWidth(s.name, font) + 18;
    if (lx > 0 && lx + w > pw) [lx, row] = [0, row + 1];
    legend.push({ x: lx, row });
    lx += w;
  }
  const legendTop = opts.title ? 44 : 12;
  const top = legendTop + (series.length ? (row + 1) * 18 : 0) + 8;
  const bottom = 16 + font + 8 + (opts.xLabel ? 24 : 0);
  const ph = Math.max(40, H - top - bottom);
  const sx = (x: number) => left + ((x - xt.domain[0]) / (xt.domain[1] - xt.domain[0])) * pw;
  const ly = (y: number) => (logY ? Math.log10(y) : y);
  const sy = (y: number) => top + ph - ((ly(y) - ly(yt.domain[0])) / (ly(yt.domain[1]) - ly(yt.domain[0]))) * ph;

  const out: string[] = [];
  if (opts.title) out.push(`<text x="${num(left + pw / 2)}" y="28" text-anchor="middle" font-size="16" font-weight="bold">${escapeXml(opts.title)}</text>`);
  for (const t of yt.ticks) {
    const y = sy(t.value);
    out.push(`<line x1="${num(left)}" y1="${num(y)}" x2="${num(left + pw)}" y2="${num(y)}" stroke="${t.minor ? '#f0f0f0' : '#dddddd'}"/>`);
    if (!t.minor) out.push(`<text x="${num(left - 6)}" y="${num(y)}" text-anchor="end" dominant-baseline="central" font-size="${font}">${escapeXml(t.label)}</text>`);
  }
  for (const t of xt.ticks) {
    const x = sx(t.value);
    out.push(`<line x1="${num(x)}" y1="${num(top)}" x2="${num(x)}" y2="${num(top + ph)}" stroke="#dddddd"/>`);
    out.push(`<text x="${num(x)}" y="${num(top + ph + 6 + font)}" text-anchor="middle" font-size="${font}">${escapeXml(t.label)}</text>`);
  }
  out.push(`<rect x="${num(left)}" y="${num(top)}" width="${num(pw)}" height="${num(ph)}" fill="none" stroke="#666666"/>`);
  if (opts.xLabel) out.push(`<text x="${num(left + pw / 2)}" y="${num(H - 14)}" text-anchor="middle" font-size="${font}">${escapeXml(opts.xLabel)}</text>`);
  if (opts.yLabel) {
    const y = top + ph / 2;
    out.push(`<text x="22" y="${num(y)}" text-anchor="middle" font-size="${font}" transform="rotate(-90 22 ${num(y)})">${escapeXml(opts.yLabel)}</text>`);
  }
  if (!all.length) out.push(`<text x="${num(left + pw / 2)}" y="${num(top + ph / 2)}" text-anchor="middle" font-size="14" fill="#888888">no data</text>`);

  series.forEach((s, k) => {
    const colour = COLOURS[k % COLOURS.length];
    let d = '';
    let pen = false;
    let count = 0;
    for (const p of s.points) {
      if (!usable(p)) {
        pen = false; // a gap in the data is a gap in the line, not a straight line across it
        continue;
      }
      d += `${pen ? 'L' : 'M'}${num(sx(p[0]))} ${num(sy(p[1]))}`;
      pen = true;
      count++;
    }
    if (count > 1) out.push(`<path d="${d}" fill="none" stroke="${colour}" stroke-width="1.75" stroke-linejoin="round"/>`);
    // A lone point has no line to show it; a dot does.
    if (count === 1) {
      const p = s.points.find(usable)!;
      out.push(`<circle cx="${num(sx(p[0]))}" cy="${num(sy(p[1]))}" r="3.5" fill="${colour}"/>`);
    }
    const ly0 = legendTop + 9 + legend[k].row * 18;
    const lx0 = left + legend[k].x;
    out.push(`<line x1="${num(lx0)}" y1="${num(ly0)}" x2="${num(lx0 + 22)}" y2="${num(ly0)}" stroke="${colour}" stroke-width="3"/>`);
    out.push(`<text x="${num(lx0 + 28)}" y="${num(ly0)}" dominant-baseline="central" font-size="${font}">${escapeXml(s.name)}</text>`);
  });
  return svgDocument(W, H, `<g ${FONT} fill="#111111">\n${out.join('\n')}\n</g>\n`, opts.title);
}
