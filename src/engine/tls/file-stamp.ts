// What a set of certificate files look like on disk, without reading them: each
// file's device, inode, size and times (links followed, as certbot's live/
// links to archive/ are). A different stamp means a file was replaced or
// rewritten, so the keeper reads them again within seconds rather than at its
// hourly check; the same stamp at two looks in a row means the writer is done
// (certbot, or a person, writes the certificate and the key one after the other).

import { stat } from 'node:fs/promises';
import type { TlsCertificateFiles } from '../../core/service-config.ts';

/** The files a `certificates:` source reads: every cert_file, and each key kept in a file. */
export function watchedFiles(files: TlsCertificateFiles): string[] {
  return files.certificates.flatMap((c) => (c.key.provider === 'file' ? [c.certFile, c.key.path] : [c.certFile]));
}

export async function fileStamp(paths: readonly string[]): Promise<string> {
  const parts = await Promise.all(paths.map(async (path) => {
    try {
      const s = await stat(path);
      return `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code ?? 'error';
    }
  }));
  return parts.join('|');
}
