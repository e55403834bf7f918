// An append-only log file that rotates by size: `x.log` is written until the
// next write would take it past maxFileBytes, then it becomes `x.log.1` (the
// older ones shift up to `x.log.<maxFiles>`, the oldest is deleted) and a new
// `x.log` begins. An instance's logs therefore never take more than
// (maxFiles + 1) × maxFileBytes on disk, however much it writes.
//
// `x.log` exists at every moment, even mid-rotation: the full file is linked as
// `x.log.1` and an empty file is renamed over `x.log`, so a reader (slipway logs,
// tail -F, a log shipper) never finds it missing.

import { closeSync, fstatSync, linkSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';

export interface LogLimits {
  /** Size at which the current file is rotated. */
  maxFileBytes: number;
  /** Rotated files kept besides the current one. */
  maxFiles: number;
}

export const DEFAULT_LOG_LIMITS: LogLimits = { maxFileBytes: 10 * 1024 * 1024, maxFiles: 3 };

/** The files of one instance's log, oldest first (some may not exist). */
export function rotatedPaths(path: string, maxFiles: number): string[] {
  const out: string[] = [];
  for (let k = maxFiles; k >= 1; k--) out.push(`${path}.${k}`);
  out.push(path);
  return out;
}

export class RotatingLogFile {
  private fd: number;
  private size: number;

  constructor(
    private readonly path: string,
    private readonly limits: LogLimits,
  ) {
    this.fd = openSync(path, 'a');
    this.size = fstatSync(this.fd).size;
  }

  /** Writes all of buf (rotating first if needed); throws on a write error. */
  write(buf: Buffer): void {
    if (buf.length === 0) return;
    if (this.size > 0 && this.size + buf.length > this.limits.maxFileBytes) this.rotate();
    for (let off = 0; off < buf.length; ) off += writeSync(this.fd, buf, off);
    this.size += buf.length;
  }

  private rotate(): void {
    closeSync(this.fd);
    const next = `${this.path}.next`;
    try {
      if (this.limits.maxFiles > 0) {
        rmSync(`${this.path}.${this.limits.maxFiles}`, { force: true });
        for (let k = this.limits.maxFiles - 1; k >= 1; k--) {
          try {
            renameSync(`${this.path}.${k}`, `${this.path}.${k + 1}`);
          } catch {
            // that one did not exist yet
          }
        }
        linkSync(this.path, `${this.path}.1`);
      }
      closeSync(openSync(next, 'w'));
      renameSync(next, this.path);
    } finally {
      // Whatever happened, writing goes on into a file at `path`.
      this.fd = openSync(this.path, 'a');
      this.size = fstatSync(this.fd).size;
    }
  }

  close(): void {
    closeSync(this.fd);
  }
}
