// The instance log record: what the log relay writes (one JSON object a line) and
// what `slipway logs` reads. A line the instance wrote as a JSON object is kept as
// its fields; any other line is wrapped, its level guessed where it is obvious.

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LogTags {
  env: string;
  release: number | null;
  instance: string;
}

export interface LogRecord extends LogTags {
  /** When the relay read the line (epoch ms). */
  ts: number;
  /** 'relay' for the relay's own notices (lost or dropped output). */
  stream: 'stdout' | 'stderr' | 'relay';
  level: LogLevel;
  msg: string;
  /** The instance's own JSON fields, when the line was a JSON object. */
  fields?: Record<string, unknown>;
  /** The line was written in pieces (it was too long, or unfinished for a while). */
  partial?: true;
}

const PINO_LEVELS: Record<number, LogLevel> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };
const LEVEL_WORDS: [RegExp, LogLevel][] = [
  [/^(fatal|panic|critical|crit)$/i, 'fatal'],
  [/^(error|err|severe)$/i, 'error'],
  [/^(warn|warning)$/i, 'warn'],
  [/^(info|notice|information)$/i, 'info'],
  [/^(debug|dbg)$/i, 'debug'],
  [/^(trace|verbose)$/i, 'trace'],
];

function levelFromWord(word: string): LogLevel | null {
  for (const [re, level] of LEVEL_WORDS) if (re.test(word)) return level;
  return null;
}

/** A level written as a pino number or a word. */
export function normaliseLevel(v: unknown): LogLevel | null {
  if (typeof v === 'number') {
    const rounded = Math.floor(v / 10) * 10;
    return PINO_LEVELS[Math.min(60, Math.max(10, rounded))] ?? null;
  }
  return typeof v === 'string' ? levelFromWord(v.trim()) : null;
}

// "ERROR ...", "[warn] ...", "level=error ...", "2026-11-29T10:00:00Z WARN ..." — a
// level word among the first few tokens. Anything else is not obvious.
const LEADING_LEVEL = /^(?:\S+\s+){0,2}?[[(<]?(?:level=)?(fatal|panic|critical|error|err|warn|warning|info|notice|debug|trace)[\])>:]?(?:\s|$)/i;

/** The level of a plain line: a level word near its start, else by stream (stderr: warn). */
export function guessLevel(line: string, stream: 'stdout' | 'stderr'): LogLevel {
  const m = LEADING_LEVEL.exec(line.slice(0, 120));
  return (m && levelFromWord(m[1]!)) || (stream === 'stderr' ? 'warn' : 'info');
}

/**
 * One line of output (without its newline) as a record, serialised as the log
 * file's line (without its newline): a JSON line's own text is put in as `fields`
 * as it is (it was just parsed, so it is valid JSON), which spares stringifying it
 * again. `head` is recordHead(tags) for the relay's tags.
 */
export function recordLine(line: string, o: { stream: 'stdout' | 'stderr'; ts: number; head: string; partial?: boolean }): string {
  const trimmed = line.trimEnd();
  const start = `{"ts":${o.ts},${o.head},"stream":"${o.stream}"`;
  if (!o.partial && trimmed.startsWith('{') && trimmed.endsWith('}')) {
    try {
      const fields = JSON.parse(trimmed) as unknown;
      if (fields && typeof fields === 'object' && !Array.isArray(fields)) {
        const f = fields as Record<string, unknown>;
        const msg = typeof f.msg === 'string' ? f.msg : typeof f.message === 'string' ? f.message : '';
        const level = normaliseLevel(f.level) ?? normaliseLevel(f.severity) ?? (o.stream === 'stderr' ? 'warn' : 'info');
        return `${start},"level":"${level}","msg":${JSON.stringify(msg)},"fields":${trimmed}}`;
      }
    } catch {
      // not JSON after all: a plain line
    }
  }
  return `${start},"level":"${guessLevel(trimmed, o.stream)}","msg":${JSON.stringify(trimmed)}${o.partial ? ',"partial":true' : ''}}`;
}

/** The tags part of every record line of one instance. */
export function recordHead(tags: LogTags): string {
  return `"env":${JSON.stringify(tags.env)},"release":${tags.release === null ? 'null' : tags.release},"instance":${JSON.stringify(tags.instance)}`;
}

/**
 * A line of a log file as a record. Lines that are not records (logs written
 * before records existed, or the relay's own startup trouble) are shown as they are.
 */
export function parseLogLine(line: string, fallback: LogTags): LogRecord {
  if (line.startsWith('{"ts":')) {
    try {
      const r = JSON.parse(line) as LogRecord;
      if (typeof r.ts === 'number' && typeof r.msg === 'string') return r;
    } catch {
      // fall through
    }
  }
  return { ts: 0, ...fallback, stream: 'relay', level: guessLevel(line, 'stdout'), msg: line };
}

export function levelRank(level: LogLevel): number {
  return LOG_LEVELS.indexOf(level);
}

/** The text a --grep looks in: the message and the instance's own fields. */
export function searchableText(r: LogRecord): string {
  return r.fields ? `${r.msg} ${JSON.stringify(r.fields)}` : r.msg;
}
