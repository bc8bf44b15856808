/**
 * Small shared pieces of the SVG writers: escaping, number formatting, text measurement and colour.
 * The writers build SVG as strings (no DOM in Node, and no runtime dependencies).
 */

/** Sans-serif stack that every browser and most viewers resolve to a readable face. */
export const FONT = `font-family="system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"`;

/**
 * Escapes text for XML content and attribute values. Characters XML 1.0 forbids outright (most C0
 * controls) are dropped, since no escape makes them legal and a viewer would reject the whole file.
 */
export function escapeXml(s: string): string {
  return s
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/**
 * A coordinate for the file: at most two decimals, so files stay small and diffable. A non-finite
 * number is a bug in the caller; it throws rather than write 'NaN' into a picture that then shows nothing.
 */
export function num(n: number): string {
  if (!Number.isFinite(n)) throw new Error(`svg: non-finite coordinate ${n}`);
  const r = Math.round(n * 100) / 100;
  return String(r === 0 ? 0 : r); // no '-0'
}

/**
 * Rough rendered width of `s` at `size` px. There are no font metrics here, so characters fall into
 * classes with widths a little above those of common sans-serif faces (DejaVu Sans is among the
 * widest): better a gap than an overlap.
 */
export function textWidth(s: string, size: number): number {
  let em = 0;
  for (const ch of s) {
    if (/[iIjlt.,:;'|!()[\] ]/.test(ch)) em += 0.36;
    else if (/[mwMW@&%<>=+~]/.test(ch)) em += 0.9;
    else if (/[A-Z]/.test(ch)) em += 0.72;
    else em += 0.64;
  }
  return em * size;
}

// ColorBrewer "Blues" (designed for sequential data: lightness falls evenly), starting from pure white
// so a weight of 0 reads as "nothing" and 1 as the darkest blue.
const BLUES = ['#ffffff', '#deebf7', '#c6dbef', '#9ecae1', '#6baed6', '#4292c6', '#2171b5', '#08519c', '#08306b'];
const rgb = (hex: string): [number, number, number] => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)) as [number, number, number];
const hex = (c: number[]): string => `#${c.map((v) => Math.round(v).toString(16).padStart(2, '0')).join('')}`;

/** The colour of `t` in [0, 1] (clamped; non-finite as 0) on the white-to-dark-blue ramp, as '#rrggbb'. */
export function blues(t: number): string {
  const x = Number.isFinite(t) ? Math.min(1, Math.max(0, t)) * (BLUES.length - 1) : 0;
  const i = Math.min(BLUES.length - 2, Math.floor(x));
  const a = rgb(BLUES[i]);
  const b = rgb(BLUES[i + 1]);
  return hex(a.map((v, k) => v + (b[k] - v) * (x - i)));
}

/** The ramp's stops, for a gradient legend that matches the cells exactly. */
export const BLUES_STOPS: readonly string[] = BLUES;

/** Black or white, whichever contrasts more with the background `bg` ('#rrggbb'), by WCAG luminance. */
export function textOn(bg: string): '#000000' | '#ffffff' {
  const lin = rgb(bg).map((v) => {
    const c = v / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  const lum = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2];
  return (lum + 0.05) / 0.05 >= 1.05 / (lum + 0.05) ? '#000000' : '#ffffff';
}

/** A complete SVG document: white background (dark-mode viewers would otherwise show black text on black). */
export function svgDocument(width: number, height: number, body: string, title?: string): string {
  const w = num(Math.ceil(width));
  const h = num(Math.ceil(height));
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" role="img">\n` +
    (title ? `<title>${escapeXml(title)}</title>\n` : '') +
    `<rect width="${w}" height="${h}" fill="#ffffff"/>\n${body}</svg>\n`
  );
}

/** Stacks whole SVG documents (as made by this module) vertically into one, each keeping its own coordinates. */
export function stackSvgs(parts: readonly string[], title?: string): string {
  let y = 0;
  let width = 0;
  const body = parts.map((p) => {
    const m = /^<svg [^>]*width="([\d.]+)" height="([\d.]+)"/.exec(p);
    if (!m) throw new Error('stackSvgs: not an SVG document from svgDocument');
    const nested = p.replace(/^<svg /, `<svg x="0" y="${num(y)}" `);
    y += Number(m[2]);
    width = Math.max(width, Number(m[1]));
    return nested;
  });
  return svgDocument(width, y, body.join(''), title);
}
