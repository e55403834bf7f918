// slipway's directories inside a project (`.slipway/`: the server's state when it
// runs there, the CLI's caches) hold what must never be committed: the admin
// token, the master and signing keys, the encrypted secrets in state.db. A
// `.gitignore` of `*` inside the directory keeps all of it, itself included, out
// of `git add -A`, whatever the project's own .gitignore says (as pytest and mypy
// do for their caches).

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const TEXT = '# Made by slipway: everything here is local state (tokens, keys, caches). Never commit it.\n*\n';

/** Writes `dir/.gitignore` unless there is one. Never throws: a read-only place only loses the guard. */
export function keepOutOfGit(dir: string): void {
  try {
    writeFileSync(join(dir, '.gitignore'), TEXT, { flag: 'wx', mode: 0o600 });
  } catch {
    // there already, or not writable
  }
}
