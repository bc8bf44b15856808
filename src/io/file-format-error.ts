/**
 * The error for a file whose bytes are not what its format promises: truncated, corrupt, or a header
 * that contradicts the data. It names the file, so that a message read far from the call that loaded
 * it (a log, a CLI) still says which file to look at.
 */
export class FileFormatError extends Error {
  /** The file (or the name the caller gave the bytes) that is malformed. */
  readonly path: string;

  /**
   * @param path the file name, written at the start of the message
   * @param problem one line: what was expected, what was found, and where possible what to do
   */
  constructor(path: string, problem: string, options?: { cause?: unknown }) {
    super(`${path}: ${problem}`, options);
    this.name = 'FileFormatError';
    this.path = path;
  }
}
