/**
 * Atomic file writes: the data goes to a temporary file beside the target, is flushed to disk, and
 * then renamed over the target. A rename within one directory is atomic on POSIX file systems (and
 * replaces the target on Windows), so a reader, a crash or Ctrl-C sees either the old file or the new
 * one, never a half-written one.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

export interface WriteFileAtomicOptions {
  /** Create missing parent directories first (default false: a missing directory is an error). */
  mkdir?: boolean;
}

/**
 * Writes `data` (UTF-8 for strings) to `path` atomically. On failure nothing is left behind but the
 * old file, if any, and the thrown error names `path` and the cause (the original error is `cause`).
 */
export function writeFileAtomic(path: string, data: string | Uint8Array, opts: WriteFileAtomicOptions = {}): void {
  const dir = dirname(path);
  // Same directory as the target: a rename across file systems would not be atomic (or would fail).
  // pid plus random suffix: concurrent writers, even in other processes, never share a temporary.
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let fd: number | undefined;
  try {
    if (opts.mkdir) mkdirSync(dir, { recursive: true });
    fd = openSync(tmp, 'wx'); // 'x': never clobber a file that happens to have this name
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd); // on disk before the rename, else a crash could leave the new name with no data
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (cause) {
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {
        // Already failing; the original error is the one worth reporting.
      }
    }
    try {
      rmSync(tmp, { force: true });
    } catch {
      // E.g. the directory is not a directory: there is no temporary file to remove.
    }
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new Error(`cannot write ${path}: ${reason}`, { cause });
  }
}
