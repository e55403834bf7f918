// Which requests a shadow step copies (path patterns), what endpoint a request
// counts under (its route path: ids folded), which field paths are ignored, and how
// an example's values are masked. Pure.

/** `/api/*`: everything under /api; `*` inside a pattern: one segment; else the exact path. */
export function pathMatcher(patterns: readonly string[]): (path: string) => boolean {
  const compiled = patterns.map((p) => {
    const isPrefix = p.endsWith('/*');
    const segs = (isPrefix ? p.slice(0, -2) : p).split('/').filter((s) => s !== '');
    return { isPrefix, segs };
  });
  return (path) => {
    const segs = path.split('/').filter((s) => s !== '');
    return compiled.some((c) => {
      if (c.isPrefix ? segs.length < c.segs.length : segs.length !== c.segs.length) return false;
      return c.segs.every((s, i) => s === '*' || s === segs[i]);
    });
  };
}

/** A field is ignored by a pattern equal to it or to one of its parents; `*` stands for one segment. */
export function fieldIgnorer(patterns: readonly string[]): (field: string) => boolean {
  const compiled = patterns.map((p) => p.split('/').slice(1));
  if (compiled.length === 0) return () => false;
  return (field) => {
    const segs = field.split('/').slice(1);
    return compiled.some((c) => c.length <= segs.length && c.every((s, i) => s === '*' || s === segs[i]));
  };
}

const ID_SEGMENT = /^(\d+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{16,}|[A-Za-z0-9_-]{24,})$/i;

/** `GET /api/items/42?x=1` → `GET /api/items/:id`: numbers, UUIDs and long hex or random ids fold. */
export function endpointOf(method: string, path: string): string {
  const segs = path.split('/').map((s) => (ID_SEGMENT.test(s) ? ':id' : s));
  const route = segs.join('/');
  return `${method} ${route.length > 200 ? `${route.slice(0, 200)}…` : route}`;
}

/** The path and query of a URL, split. */
export function splitUrl(url: string): { path: string; query: string } {
  const q = url.indexOf('?');
  return q < 0 ? { path: url, query: '' } : { path: url.slice(0, q), query: url.slice(q + 1) };
}

/** A URL as shown in an example: query values masked (they may carry tokens), long paths cut. */
export function maskUrl(url: string): string {
  const { path, query } = splitUrl(url);
  const shown = path.length > 200 ? `${path.slice(0, 200)}…` : path;
  if (query === '') return shown;
  return `${shown}?${query.split('&').map((kv) => `${kv.split('=')[0]}=***`).join('&')}`;
}

const SECRET_NAME = /pass|secret|token|auth|cookie|session|credential|signature|api[-_]?key|private/i;
const SECRET_VALUE = /^"?(eyJ[A-Za-z0-9_-]{10,}|Bearer |Basic |sk_|ghp_|xox[bp]-)/;
const MAX_SHOWN = 80;

/** A value for an example: `***` when its field's name or its shape says secret, cut when long. */
export function maskValue(field: string, value: string): string {
  if (SECRET_NAME.test(field) || SECRET_VALUE.test(value)) return '***';
  return value.length > MAX_SHOWN ? `${value.slice(0, MAX_SHOWN)}… (${value.length} chars)` : value;
}
