/**
 * One attention head's weights as a table of tokens: rows are queries, columns keys, each cell the
 * weight in percent, so a reader sees where each position looks. Shading (on a colour terminal) makes
 * the pattern visible at a glance.
 */
export interface AttentionTableOptions {
  /** Use ANSI background shades (default: only when writing to a terminal). */
  color?: boolean;
}

const SHADES = [232, 236, 239, 242, 245, 248, 251, 254]; // xterm-256 grey ramp

/**
 * weights: [seqQ][seqK] (rows sum to 1); queryTokens and keyTokens label the rows and columns.
 */
export function attentionTable(weights: readonly (readonly number[])[], queryTokens: readonly string[], keyTokens: readonly string[], opts: AttentionTableOptions = {}): string {
  const color = opts.color ?? false;
  const labelW = Math.max(5, ...queryTokens.map((t) => t.length));
  const cellW = Math.max(4, ...keyTokens.map((t) => t.length + 1));
  const lines: string[] = [];
  lines.push(`${'q \\ k'.padEnd(labelW)} ${keyTokens.map((t) => t.padStart(cellW)).join('')}`);
  weights.forEach((row, i) => {
    const cells = row.map((w) => {
      const text = `${Math.round(w * 100)}`.padStart(cellW);
      if (!color) return text;
      const shade = SHADES[Math.min(SHADES.length - 1, Math.floor(w * SHADES.length))];
      const fg = w > 0.5 ? 30 : 37;
      return `\x1b[48;5;${shade}m\x1b[${fg}m${text}\x1b[0m`;
    });
    lines.push(`${(queryTokens[i] ?? '').padEnd(labelW)} ${cells.join('')}`);
  });
  return lines.join('\n');
}
