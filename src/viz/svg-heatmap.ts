/**
 * Attention weights as an SVG heatmap: rows are query positions, columns key positions, each cell's
 * colour its weight on a white-to-dark-blue ramp, with the percentage printed where the cell is big
 * enough to hold it. Pure functions: weights in, SVG text out.
 */
import { BLUES_STOPS, FONT, blues, escapeXml, num, svgDocument, textOn, textWidth } from './svg.js';

export interface HeatmapOptions {
  title?: string;
}

interface Panel {
  body: string;
  width: number;
  height: number;
}

interface PanelSpec {
  cell: number;
  rowLabels: boolean;
  colLabels: boolean;
  title?: string;
  bold?: boolean;
}

const PAD = 16;
const TITLE_SIZE = 16;
const PANEL_TITLE_SIZE = 11;

/** Cells shrink as sequences grow so the picture stays a sensible size: 48 px for short ones, 10 px at least. */
const cellFor = (n: number, budget: number) => Math.max(10, Math.min(48, Math.floor(budget / Math.max(1, n))));

/**
 * One matrix with its tick labels, drawn with its top-left corner at (0, 0). Row labels sit left of the
 * grid, column labels above it: horizontal when they fit a column, else vertical, each straight
 * above its own column (slanted ones seem to belong to the next column and run past the grid).
 */
function panel(weights: readonly (readonly number[])[], qLabels: readonly string[], kLabels: readonly string[], spec: PanelSpec): Panel {
  const { cell } = spec;
  const rows = weights.length;
  const cols = Math.max(0, ...weights.map((r) => r.length));
  const colTexts = kLabels.slice(0, cols);
  const widest = (size: number) => Math.max(0, ...colTexts.map((l) => textWidth(l, size)));
  const font = Math.min(12, Math.max(9, Math.round(cell * 0.55)));
  // Column labels shrink a little (to 10 px) to stay level, which reads easier; if that is not enough they
  // are turned at full size, where length costs nothing.
  let colFont = font;
  while (colFont > Math.min(font, 10) && widest(colFont) > cell - 4) colFont--;
  const turned = widest(colFont) > cell - 4;
  if (turned) colFont = font;
  const colMax = widest(colFont);
  const rowW = spec.rowLabels ? Math.max(0, ...qLabels.slice(0, rows).map((l) => textWidth(l, font))) + 6 : 0;
  const colH = !spec.colLabels ? 0 : turned ? colMax + 6 : colFont + 6;
  const titleH = spec.title ? PANEL_TITLE_SIZE + 8 : 0;
  const gx = rowW;
  const gy = titleH + colH;
  const out: string[] = [];
  if (spec.title) {
    const weight = spec.bold ? ' font-weight="bold"' : '';
    out.push(`<text x="${num(gx + (cols * cell) / 2)}" y="${PANEL_TITLE_SIZE}" text-anchor="middle" font-size="${PANEL_TITLE_SIZE}"${weight}>${escapeXml(spec.title)}</text>`);
  }
  if (spec.colLabels) {
    colTexts.forEach((l, j) => {
      const x = gx + (j + 0.5) * cell;
      const y = gy - 6;
      out.push(
        turned
          ? `<text x="${num(x)}" y="${num(y)}" dominant-baseline="central" font-size="${colFont}" transform="rotate(-90 ${num(x)} ${num(y)})">${escapeXml(l)}</text>`
          : `<text x="${num(x)}" y="${num(y)}" text-anchor="middle" font-size="${colFont}">${escapeXml(l)}</text>`,
      );
    });
  }
  const valueSize = Math.min(13, cell * 0.32);
  weights.forEach((row, i) => {
    if (spec.rowLabels && qLabels[i] !== undefined) {
      out.push(`<text x="${num(gx - 6)}" y="${num(gy + (i + 0.5) * cell)}" text-anchor="end" dominant-baseline="central" font-size="${font}">${escapeXml(qLabels[i])}</text>`);
    }
    for (let j = 0; j < cols; j++) {
      const w = row[j];
      const ok = Number.isFinite(w);
      // A missing or non-finite weight is a grey cell with no number, not a colour that pretends to be data.
      const fill = ok ? blues(w) : '#bdbdbd';
      const x = gx + j * cell;
      const y = gy + i * cell;
      out.push(`<rect class="cell" x="${num(x)}" y="${num(y)}" width="${num(cell)}" height="${num(cell)}" fill="${fill}"><title>${escapeXml(`${qLabels[i] ?? i} → ${kLabels[j] ?? j}: ${ok ? (100 * w).toFixed(1) + '%' : 'n/a'}`)}</title></rect>`);
      if (ok && cell >= 22) {
        const pct = Math.round(100 * w);
        const text = cell >= 40 ? `${pct}%` : `${pct}`;
        // Near-zero weights in grey: the few large ones are the pattern, a wall of black zeros hides it.
        out.push(`<text x="${num(x + cell / 2)}" y="${num(y + cell / 2)}" text-anchor="middle" dominant-baseline="central" font-size="${num(valueSize)}" fill="${pct < 5 ? '#707070' : textOn(fill)}">${text}</text>`);
      }
    }
  });
  // A thin frame so white (zero) cells at the edge still show where the matrix ends.
  out.push(`<rect x="${num(gx)}" y="${num(gy)}" width="${num(cols * cell)}" height="${num(rows * cell)}" fill="none" stroke="#888888" stroke-width="1"/>`);
  return { body: out.join('\n'), width: gx + cols * cell, height: gy + rows * cell };
}

/** A vertical colour bar from 0% (bottom) to 100% (top) with ticks every 25%, drawn at (0, 0). */
function colourBar(height: number): Panel {
  const w = 14;
  const stops = BLUES_STOPS.map((c, i) => `<stop offset="${num((100 * i) / (BLUES_STOPS.length - 1))}%" stop-color="${c}"/>`).join('');
  const out = [
    `<defs><linearGradient id="qkv-blues" x1="0" y1="1" x2="0" y2="0">${stops}</linearGradient></defs>`,
    `<rect x="0" y="0" width="${w}" height="${num(height)}" fill="url(#qkv-blues)" stroke="#888888" stroke-width="1"/>`,
  ];
  for (const p of [0, 25, 50, 75, 100]) {
    const y = height * (1 - p / 100);
    out.push(`<line x1="${w}" y1="${num(y)}" x2="${w + 4}" y2="${num(y)}" stroke="#555555"/>`);
    out.push(`<text x="${w + 7}" y="${num(y)}" dominant-baseline="central" font-size="11">${p}%</text>`);
  }
  return { body: out.join('\n'), width: w + 7 + textWidth('100%', 11), height };
}

const at = (p: Panel, x: number, y: number) => `<g transform="translate(${num(x)} ${num(y)})">\n${p.body}\n</g>\n`;

/**
 * One head's attention as an SVG heatmap.
 *
 * @param weights [seqQ][seqK], each row a distribution over keys (values in [0, 1]; others are clamped,
 *   non-finite ones drawn grey).
 * @param queryLabels one label per row (query position), e.g. `"3:9"` for position 3, token 9.
 * @param keyLabels one label per column (key position).
 * @returns a standalone SVG document (UTF-8 text).
 */
export function attentionHeatmapSvg(weights: readonly (readonly number[])[], queryLabels: readonly string[], keyLabels: readonly string[], opts: HeatmapOptions = {}): string {
  const n = Math.max(weights.length, ...weights.map((r) => r.length));
  const cell = cellFor(n, 520);
  const m = panel(weights, queryLabels, keyLabels, { cell, rowLabels: true, colLabels: true });
  return layout([{ panel: m, x: 0, y: 0 }], m.width, m.height, Math.max(1, weights.length) * cell, m.height - weights.length * cell, opts.title);
}

/** One small matrix of {@link attentionGridSvg}. */
export interface HeatmapPanel {
  weights: readonly (readonly number[])[];
  title: string;
  /** Draw the title in bold (e.g. the head shown on its own elsewhere). */
  highlight?: boolean;
}

/**
 * Several heads (e.g. every head of every layer) as a grid of small heatmaps, `columns` per row, with
 * one shared colour bar. Tick labels appear on the left column and top row only, to save space.
 */
export function attentionGridSvg(panels: readonly HeatmapPanel[], queryLabels: readonly string[], keyLabels: readonly string[], opts: HeatmapOptions & { columns?: number } = {}): string {
  const columns = Math.max(1, Math.min(opts.columns ?? 4, panels.length || 1));
  const n = Math.max(1, ...panels.map((p) => Math.max(p.weights.length, ...p.weights.map((r) => r.length))));
  const cell = cellFor(n, 200);
  const drawn = panels.map((p, k) =>
    panel(p.weights, queryLabels, keyLabels, { cell, rowLabels: k % columns === 0, colLabels: k < columns, title: p.title, bold: p.highlight }),
  );
  // Align grids across panels: every panel in a column gets the widest row-label gutter of that column, and so on.
  const gap = 18;
  const rowsN = Math.ceil(drawn.length / columns);
  const colW = Array.from({ length: columns }, (_, c) => Math.max(0, ...drawn.filter((_, k) => k % columns === c).map((p) => p.width)));
  const rowH = Array.from({ length: rowsN }, (_, r) => Math.max(0, ...drawn.slice(r * columns, (r + 1) * columns).map((p) => p.height)));
  const placed = drawn.map((p, k) => {
    const c = k % columns;
    const r = Math.floor(k / columns);
    const x = colW.slice(0, c).reduce((a, b) => a + b + gap, 0) + (colW[c] - p.width);
    const y = rowH.slice(0, r).reduce((a, b) => a + b + gap, 0) + (rowH[r] - p.height);
    return { panel: p, x, y };
  });
  const width = colW.reduce((a, b) => a + b, 0) + gap * (columns - 1);
  const height = rowH.reduce((a, b) => a + b, 0) + gap * Math.max(0, rowsN - 1);
  // Panels sit on the bottom of their grid row, so the first grid starts n cells above that row's bottom.
  const barH = Math.min(240, Math.max(80, n * cell));
  return layout(placed, width, height, barH, Math.max(0, (rowH[0] ?? 0) - n * cell), opts.title);
}

/**
 * Title above, axis names ("key" over the columns, "query" turned along the rows), panels in the middle
 * and the colour bar to the right, its top level with the first grid's top.
 */
function layout(placed: { panel: Panel; x: number; y: number }[], width: number, height: number, barH: number, gridTop: number, title?: string): string {
  const top = PAD + (title ? TITLE_SIZE + 12 : 0) + 18; // room for "key"
  const bar = colourBar(barH);
  const out: string[] = [];
  const contentW = 20 + width + 24 + bar.width; // "query", panels, gap, colour bar
  // A title wider than the picture widens it (and the content is centred) instead of being cut off.
  const totalW = Math.max(contentW, title ? 1.1 * textWidth(title, TITLE_SIZE) : 0) + 2 * PAD; // bold is ~10% wider
  const left = (totalW - contentW) / 2 + 20;
  if (title) out.push(`<text x="${num(totalW / 2)}" y="${num(PAD + TITLE_SIZE)}" text-anchor="middle" font-size="${TITLE_SIZE}" font-weight="bold">${escapeXml(title)}</text>`);
  out.push(`<text x="${num(left + width / 2)}" y="${num(top - 8)}" text-anchor="middle" font-size="12" fill="#444444">key</text>`);
  const qy = top + gridTop + (height - gridTop) / 2;
  const qx = left - 12;
  out.push(`<text x="${num(qx)}" y="${num(qy)}" text-anchor="middle" font-size="12" fill="#444444" transform="rotate(-90 ${num(qx)} ${num(qy)})">query</text>`);
  for (const p of placed) out.push(at(p.panel, left + p.x, top + p.y));
  out.push(at(bar, left + width + 24, top + gridTop));
  const totalH = top + Math.max(height, gridTop + barH + 8) + PAD;
  return svgDocument(totalW, totalH, `<g ${FONT} fill="#111111">\n${out.join('\n')}\n</g>\n`, title);
}
