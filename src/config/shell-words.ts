// Splits `run.command` into argv the way a POSIX shell would split words, without
// running a shell: instances are started with execve-style argv, so what the user
// sees in slipway.yaml must be exactly what the program receives.
//
// Supported: whitespace between words, 'single quotes' (all literal), "double
// quotes" (where \" \\ \$ \` and backslash-newline are escapes and any other
// backslash stays), and a backslash outside quotes escaping the next character.
// Refused: unclosed quotes, a trailing lone backslash, and unquoted shell operators
// (| & ; < > ( ) $ `): with no shell to run them they would reach the program as
// literal arguments, which is never what the author of `node app.js > out.log` meant.
// One exception: an unquoted `${NAME}` is kept as written, because slipway replaces
// `${PORT}` itself when it starts an instance (core/port-references.ts); the names
// are reported in `references` so that the schema can refuse any other one.

export type SplitResult =
  | { ok: true; words: string[]; references?: string[] }
  | { ok: false; error: string; index: number };

const SPACE = new Set([' ', '\t', '\n', '\r']);
const SHELL_OPERATORS = new Set(['|', '&', ';', '<', '>', '(', ')', '$', '`']);
const BRACED_REFERENCE = /^\$\{[A-Za-z_][A-Za-z0-9_]*\}/;
const BARE_REFERENCE = /^\$([A-Za-z_][A-Za-z0-9_]*)/;
const DOUBLE_QUOTE_ESCAPES = new Set(['"', '\\', '$', '`']);

export function splitShellWords(text: string): SplitResult {
  const words: string[] = [];
  // null while between words, so that `''` can still produce an empty word.
  let word: string | null = null;
  const references: string[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (SPACE.has(c)) {
      if (word !== null) words.push(word);
      word = null;
      i++;
    } else if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) return { ok: false, error: 'unclosed single quote', index: i };
      word = (word ?? '') + text.slice(i + 1, end);
      i = end + 1;
    } else if (c === '"') {
      const quoted = readDoubleQuoted(text, i);
      if (quoted === null) return { ok: false, error: 'unclosed double quote', index: i };
      word = (word ?? '') + quoted.value;
      i = quoted.next;
    } else if (c === '\\') {
      const next = text[i + 1];
      if (next === undefined) return { ok: false, error: 'lone backslash at the end', index: i };
      // Backslash-newline is a line continuation, as in a shell.
      if (next !== '\n') word = (word ?? '') + next;
      i += 2;
    } else if (c === '$' && BRACED_REFERENCE.test(text.slice(i))) {
      const ref = BRACED_REFERENCE.exec(text.slice(i))![0];
      references.push(ref.slice(2, -1));
      word = (word ?? '') + ref;
      i += ref.length;
    } else if (c === '$' && BARE_REFERENCE.test(text.slice(i))) {
      const name = BARE_REFERENCE.exec(text.slice(i))![1]!;
      return {
        ok: false,
        // Only the port variable is replaced: suggesting \${HOME} would lead to the next refusal.
        error: `"$${name}" needs a shell, and slipway runs the command without one; for the instance's port write \${PORT} (or \${<run.port_env>}), which slipway replaces itself; for anything else read the variable in the program, or write ["sh", "-c", "..."]`,
        index: i,
      };
    } else if (SHELL_OPERATORS.has(c)) {
      return {
        ok: false,
        error: `"${c}" needs a shell, and slipway runs the command without one; quote it, or write ["sh", "-c", "..."]`,
        index: i,
      };
    } else {
      word = (word ?? '') + c;
      i++;
    }
  }
  if (word !== null) words.push(word);
  return references.length > 0 ? { ok: true, words, references } : { ok: true, words };
}

function readDoubleQuoted(text: string, open: number): { value: string; next: number } | null {
  let value = '';
  let i = open + 1;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '"') return { value, next: i + 1 };
    if (c === '\\' && i + 1 < text.length) {
      const next = text[i + 1]!;
      if (DOUBLE_QUOTE_ESCAPES.has(next)) value += next;
      else if (next !== '\n') value += c + next;
      i += 2;
    } else {
      value += c;
      i++;
    }
  }
  return null;
}

const SAFE_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** Quotes one argument so that splitShellWords gives it back unchanged. */
export function quoteShellWord(word: string): string {
  if (SAFE_WORD.test(word)) return word;
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/** The display form of an argv: splitShellWords(joinShellWords(argv)) equals argv. */
export function joinShellWords(argv: readonly string[]): string {
  return argv.map(quoteShellWord).join(' ');
}
