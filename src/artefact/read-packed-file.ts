// Reading one file out of a packed artefact without unpacking it: slipway.yaml at
// the artefact's top, for the CLI (which service is this tarball?) and for the
// server (the config of a run whose artefact a CI built). Bounded in size; nothing
// is written to disk, so no path in the archive can escape anywhere.

import * as tar from 'tar';
import { SlipwayError } from '../core/errors.ts';

/** The file at `name` (relative to the artefact's top), or null when there is none. */
export async function readPackedFile(file: string, name: string, maxBytes = 1024 * 1024): Promise<string | null> {
  let text: string | null = null;
  let tooBig = false;
  try {
    await tar.t({
      file,
      filter: (path) => path.replace(/^\.\//, '') === name,
      onReadEntry: (entry) => {
        if (entry.type !== 'File') return;
        if ((entry.size ?? 0) > maxBytes) {
          tooBig = true;
          entry.resume();
          return;
        }
        const chunks: Buffer[] = [];
        entry.on('data', (d: Buffer) => chunks.push(d));
        entry.on('end', () => (text = Buffer.concat(chunks).toString('utf8')));
      },
    });
  } catch (e) {
    throw new SlipwayError('E_ARTEFACT_INVALID', `${file} is not a readable .tar.gz artefact`, {}, { cause: e });
  }
  if (tooBig) throw new SlipwayError('E_ARTEFACT_INVALID', `the artefact's ${name} is over ${maxBytes} bytes`);
  return text;
}
