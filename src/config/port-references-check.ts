// run.command may name ${PORT} (and ${<run.port_env>}) unquoted: slipway replaces
// them itself. Any other unquoted ${NAME} would reach the program as literal text,
// since no shell runs the command, so it is refused here with what to write instead.

import { portReferenceNames } from '../core/port-references.ts';
import { splitShellWords } from './shell-words.ts';

/** A message for the first unquoted ${NAME} slipway does not replace; null when there is none. */
export function unknownPortReferences(commandText: string, portEnv: string): string | null {
  const split = splitShellWords(commandText);
  if (!split.ok) return null; // the command field has said why already
  const names = portReferenceNames(portEnv);
  const other = (split.references ?? []).find((n) => !names.includes(n));
  if (other === undefined) return null;
  return `\${${other}} is not replaced: slipway replaces only ${names.map((n) => `\${${n}}`).join(' and ')} (the instance's port) in run.command, and runs no shell; ` +
    `read ${other} from the environment in the program, quote it to pass it literally, or write ["sh", "-c", "..."]`;
}
