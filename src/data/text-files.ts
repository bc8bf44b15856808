/** Reading training text from files, with one clear line of error per problem, naming the file. */
import { readFileSync, statSync } from 'node:fs';

/**
 * Reads UTF-8 text files and returns their text, joined with one '\n' between consecutive files (a file's
 * own trailing newline is kept, so a file that ends in '\n' is followed by a blank line). A leading UTF-8
 * BOM (EF BB BF) is dropped from each file.
 *
 * Throws an Error, one line naming the file, for: no paths; a missing file; a directory; an empty file
 * (or one holding only a BOM); bytes that are not UTF-8, with the byte offset (counted from the start of
 * the file) and line of the first malformed sequence.
 */
export function readTextFiles(paths: readonly string[]): string {
  if (paths.length === 0) throw new Error('readTextFiles: no files given');
  return paths.map(readTextFile).join('\n');
}

function readTextFile(path: string): string {
  let bytes: Buffer;
  try {
    if (statSync(path).isDirectory()) throw new Error(`${path}: is a directory, expected a text file`);
    bytes = readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error(`${path}: no such file`);
    if (code === 'EACCES' || code === 'EPERM') throw new Error(`${path}: permission denied`);
    if (code === 'EISDIR') throw new Error(`${path}: is a directory, expected a text file`);
    if (code !== undefined) throw new Error(`${path}: cannot read: ${(e as Error).message}`);
    throw e;
  }
  const bom = bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  if (bytes.length === bom) throw new Error(`${path}: the file is empty${bom ? ' (it holds only a UTF-8 byte order mark)' : ''}`);
  try {
    // ignoreBOM: true keeps a U+FEFF after the one BOM we dropped, rather than silently dropping a second.
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes.subarray(bom));
  } catch {
    const at = firstInvalidUtf8(bytes, bom);
    const shown = Array.from(bytes.subarray(at, Math.min(at + 4, bytes.length)), (b) => b.toString(16).padStart(2, '0')).join(' ');
    let line = 1;
    for (let i = 0; i < at; i++) if (bytes[i] === 0x0a) line++;
    throw new Error(
      `${path}: not valid UTF-8: the bytes at byte offset ${at} (line ${line}) are not a UTF-8 character (${shown}); save the file as UTF-8`,
    );
  }
}

/**
 * Offset of the first byte of the first malformed UTF-8 sequence in `b` (from `start`), as the WHATWG
 * decoder (and so `TextDecoder`) defines well-formed: no overlong forms, no surrogates, nothing above
 * U+10FFFF, no truncated sequences. -1 if all of it is valid.
 */
export function firstInvalidUtf8(b: Uint8Array, start = 0): number {
  const n = b.length;
  let i = start;
  while (i < n) {
    const c = b[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf; // allowed range of the second byte
    if (c >= 0xc2 && c <= 0xdf) need = 1;
    else if (c >= 0xe0 && c <= 0xef) {
      need = 2;
      if (c === 0xe0) lo = 0xa0; // overlong
      if (c === 0xed) hi = 0x9f; // surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3;
      if (c === 0xf0) lo = 0x90; // overlong
      if (c === 0xf4) hi = 0x8f; // above U+10FFFF
    } else return i;
    if (i + need >= n) return i;
    if (b[i + 1] < lo || b[i + 1] > hi) return i;
    for (let k = 2; k <= need; k++) if (b[i + k] < 0x80 || b[i + k] > 0xbf) return i;
    i += need + 1;
  }
  return -1;
}
