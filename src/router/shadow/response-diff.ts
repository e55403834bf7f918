// Compares two HTTP answers field by field: the status, chosen headers, and the body
// (JSON value by value with paths like /body/items/0/price, text line by line,
// anything else as a whole). Pure; the shadow mirror runs it on each copy.

/** An answer as captured by the router: its status, the headers it keeps, its whole body. */
export interface CapturedResponse {
  status: number;
  /** Lower-case names; only those compared (and content-type, to read the body). */
  headers: Record<string, string>;
  body: Buffer;
}

export interface FieldDiff {
  /** `/status`, `/headers/<name>`, `/body`, `/body/<json pointer>`, `/body/lines/<n>`. */
  field: string;
  /** The values as short text, `(absent)` when one side has no such field. */
  a: string;
  b: string;
}

/** More differences in one answer than this are cut: the verdict needs a few, not all. */
export const MAX_DIFFS_PER_ANSWER = 64;
const ABSENT = '(absent)';

export function diffResponses(a: CapturedResponse, b: CapturedResponse, headers: readonly string[]): FieldDiff[] {
  const out: FieldDiff[] = [];
  if (a.status !== b.status) out.push({ field: '/status', a: String(a.status), b: String(b.status) });
  for (const h of headers) {
    const va = a.headers[h];
    const vb = b.headers[h];
    if (va !== vb) out.push({ field: `/headers/${h}`, a: va ?? ABSENT, b: vb ?? ABSENT });
  }
  if (a.body.equals(b.body)) return out;
  const ja = parseJson(a);
  const jb = ja === NOT_JSON ? NOT_JSON : parseJson(b);
  if (ja !== NOT_JSON && jb !== NOT_JSON) diffJson(ja, jb, '/body', out);
  else if (isText(a) && isText(b)) diffLines(a.body.toString('utf8'), b.body.toString('utf8'), out);
  else out.push({ field: '/body', a: `(${a.body.length} bytes)`, b: `(${b.body.length} bytes)` });
  return out.slice(0, MAX_DIFFS_PER_ANSWER);
}

const NOT_JSON = Symbol('not json');

/** The user's answer is compared twice (with the new release's, with a second stable one): parsed once. */
const parsed = new WeakMap<CapturedResponse, unknown>();

function parseJson(r: CapturedResponse): unknown {
  if (parsed.has(r)) return parsed.get(r);
  const v = parseJsonOnce(r);
  parsed.set(r, v);
  return v;
}

function parseJsonOnce(r: CapturedResponse): unknown {
  const type = r.headers['content-type'] ?? '';
  const first = r.body.length > 0 ? r.body[0] : 0;
  if (!type.includes('json') && first !== 0x7b && first !== 0x5b) return NOT_JSON;
  try {
    return JSON.parse(r.body.toString('utf8')) as unknown;
  } catch {
    return NOT_JSON;
  }
}

function isText(r: CapturedResponse): boolean {
  const type = r.headers['content-type'] ?? '';
  return type === '' || type.startsWith('text/') || /json|xml|javascript|x-www-form-urlencoded/.test(type);
}

/** `~` and `/` in a key as a JSON pointer writes them (RFC 6901). */
function escapeKey(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

function show(v: unknown): string {
  return v === undefined ? ABSENT : JSON.stringify(v);
}

function diffJson(a: unknown, b: unknown, path: string, out: FieldDiff[]): void {
  if (out.length >= MAX_DIFFS_PER_ANSWER) return;
  if (a === b) return;
  const isObjA = typeof a === 'object' && a !== null;
  const isObjB = typeof b === 'object' && b !== null;
  if (!isObjA || !isObjB || Array.isArray(a) !== Array.isArray(b)) {
    out.push({ field: path, a: show(a), b: show(b) });
    return;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    const n = Math.max(a.length, b.length);
    for (let i = 0; i < n; i++) diffJson(a[i], b[i], `${path}/${i}`, out);
    return;
  }
  const oa = a as Record<string, unknown>;
  const ob = b as Record<string, unknown>;
  for (const key of Object.keys(oa)) diffJson(oa[key], Object.hasOwn(ob, key) ? ob[key] : undefined, `${path}/${escapeKey(key)}`, out);
  for (const key of Object.keys(ob)) if (!Object.hasOwn(oa, key)) diffJson(undefined, ob[key], `${path}/${escapeKey(key)}`, out);
}

function diffLines(a: string, b: string, out: FieldDiff[]): void {
  const la = a.split('\n');
  const lb = b.split('\n');
  const n = Math.max(la.length, lb.length);
  for (let i = 0; i < n && out.length < MAX_DIFFS_PER_ANSWER; i++) {
    if (la[i] !== lb[i]) out.push({ field: `/body/lines/${i + 1}`, a: la[i] ?? ABSENT, b: lb[i] ?? ABSENT });
  }
}
