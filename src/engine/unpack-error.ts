// What a client is told when an artefact cannot be unpacked into a release. The
// artefact module names the files it read and wrote, which on the server are the
// data directory's own (artefacts/sha256-….tar.gz, releases/<env>/…): the answer
// names the artefact by its digest instead, and the server's log keeps the paths.

import { resolve } from 'node:path';
import { SlipwayError } from '../core/errors.ts';

export function unpackError(e: SlipwayError, o: { file: string; digest: string; dir: string }): SlipwayError {
  let message = e.message;
  for (const file of new Set([resolve(o.file), o.file])) message = message.replaceAll(`"${file}"`, o.digest).replaceAll(file, o.digest);
  for (const dir of new Set([resolve(o.dir), o.dir])) message = message.replaceAll(`"${dir}"`, 'the release directory').replaceAll(dir, 'the release directory');
  const { file: _file, targetDir: _targetDir, ...details } = e.details;
  return new SlipwayError(e.code, message, { ...details, digest: o.digest }, { cause: e });
}
