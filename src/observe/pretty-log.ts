// `--log-format pretty`: the server's JSON log lines turned into one readable
// line each (time, level, message, then the other fields as key=value), without
// a second process or a dev-only package. The JSON form stays the default: it is
// what log collectors read.

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO ', 40: 'WARN ', 50: 'ERROR', 60: 'FATAL' };
const SKIP = new Set(['level', 'time', 'msg', 'pid', 'hostname']);

export function prettyLine(line: string): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return `${line}\n`;
  }
  const time = typeof o.time === 'number' ? new Date(o.time).toISOString().slice(11, 23) : '';
  const level = LEVEL_NAMES[Number(o.level)] ?? String(o.level ?? '');
  const rest = Object.entries(o)
    .filter(([k]) => !SKIP.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' && !/\s/.test(v) ? v : JSON.stringify(v)}`)
    .join(' ');
  return `${time} ${level} ${typeof o.msg === 'string' ? o.msg : ''}${rest ? `  ${rest}` : ''}\n`;
}

/** A pino destination that writes pretty lines to a stream (stdout by default). */
export function prettyDestination(out: NodeJS.WritableStream = process.stdout): { write(line: string): boolean } {
  return { write: (line: string) => out.write(prettyLine(line.trimEnd())) };
}
