// The route table the server pushes to the router: per environment, the address to
// listen on, the ready backends and the traffic share of each release. Parsed once
// here at the router's edge (PUT /routes, routes.json); everything after trusts it.
//
// Every object is strict (unknown keys are refused) and built from named pieces, so
// a later field (sticky canary routing, a preview listener) is one more key on
// `envRoutesSchema` and one more check in `checkEnvRoutes`.

import { createHash } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import { z } from 'zod';
import { SlipwayError } from '../core/errors.ts';
import { tlsRoutesSchema } from './tls/tls-routes.ts';
import { replayRecordRoutesSchema } from './shadow/replay-routes.ts';
import { shadowRoutesSchema } from './shadow/shadow-routes.ts';

/** The longest maintenance message; it is shown whole in a browser page. */
export const MAINTENANCE_MESSAGE_MAX = 1000;
/** The most requests one environment's pause may hold. */
export const HOLD_QUEUE_MAX = 100_000;

const listenSchema = z
  .string()
  .regex(/^(\d{1,3}(\.\d{1,3}){3}|localhost|\[[0-9a-fA-F:.]+\]):\d{1,5}$/, {
    message: 'must be "HOST:PORT" with an IPv4 address, localhost or [IPv6] (e.g. "127.0.0.1:8080")',
  })
  .refine((s) => !/:\d+$/.test(s) || Number(s.slice(s.lastIndexOf(':') + 1)) <= 65535, { message: 'port must be 0..65535' });

const backendSchema = z.strictObject({
  id: z.string().min(1, 'backend id must not be empty'),
  release: z.string().min(1, 'release must not be empty'),
  url: z
    .string()
    .regex(/^http:\/\/[^/?#\s]+:\d{1,5}\/?$/, { message: 'must be "http://HOST:PORT" (no path, plain HTTP)' }),
});

const weightSchema = z
  .number()
  .min(0, 'weight must be between 0 and 100')
  .max(100, 'weight must be between 0 and 100');

const headerNameSchema = z.string().regex(/^[a-z0-9!#$%&'*+.^_`|~-]{1,100}$/, 'must be a lowercase HTTP header name');
const cookieNameSchema = z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$/, 'must be a cookie name');

/**
 * Canary routing by request: `x-slipway-track: canary|stable` (or the cookie
 * slipway-track) picks a side; else the hash of a user's header or cookie value
 * keeps that user on one side for as long as the canary's share does not change.
 */
const stickySchema = z.strictObject({
  canary: z.string().min(1),
  stable: z.string().min(1),
  header: headerNameSchema.optional(),
  cookie: cookieNameSchema.optional(),
});

/** A second listener that sends everything to one release (a blue-green colour before the switch). */
const previewSchema = z.strictObject({
  listen: listenSchema,
  release: z.string().min(1),
});

/** Node's timers hold at most 2^31-1 ms; slipway.yaml allows up to a day. */
const timeoutSchema = z.number().int('must be a whole number of ms').min(1, 'must be at least 1 ms').max(86_400_000, 'must be at most 24 h');

/**
 * The environment's `proxy:` of slipway.yaml (core's ProxySettings). Absent: the
 * router's defaults (proxy-settings.ts), so tables from before it existed still apply.
 */
const proxySchema = z.strictObject({
  responseTimeoutMs: timeoutSchema,
  idleTimeoutMs: timeoutSchema,
  maxBodyBytes: z.number().int('must be a whole number of bytes').min(1, 'must be at least 1 byte'),
  trustForwarded: z.array(z.string().refine(isAddressOrCidr, { message: 'must be an IP address or a CIDR such as 10.0.0.0/8' })),
  /** Absent: the listener reads no PROXY protocol header (proxy-protocol.ts). */
  proxyProtocol: z.enum(['v1', 'v2', 'any']).optional(),
  /** Absent: no request is a long one (router-stats.ts). */
  longRequestMs: timeoutSchema.optional(),
});

/**
 * Maintenance (`slipway maintenance on`): every request of the environment is
 * answered 503 by the router with this message; instances keep running.
 */
const maintenanceSchema = z.strictObject({
  message: z.string().min(1, 'message must not be empty').max(MAINTENANCE_MESSAGE_MAX, `message is at most ${MAINTENANCE_MESSAGE_MAX} characters`),
  retryAfterSeconds: z.number().int('must be a whole number of seconds').min(1, 'must be at least 1 s').max(86_400, 'must be at most a day'),
});

/**
 * A traffic pause (`slipway pause-traffic`): new requests are held, not failed,
 * until `untilMs` (ms since the epoch, so a table read back from routes.json after a
 * restart holds no longer than asked), at most `queueLimit` of them at once.
 */
const holdSchema = z.strictObject({
  untilMs: z.number().int('must be a whole number of ms since the epoch').min(0),
  queueLimit: z.number().int('must be a whole number').min(1, 'must be at least 1').max(HOLD_QUEUE_MAX, `must be at most ${HOLD_QUEUE_MAX}`),
});

const LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';

/** A host name or `*.` wildcard as slipway.yaml's hosts: keeps it (config/hosts-section.ts): lower case, no port, no empty label. */
const hostPatternSchema = z
  .string()
  .max(253, 'a host name is at most 253 characters')
  .regex(new RegExp(`^(?:\\*\\.)?(?:${LABEL}\\.)*${LABEL}$`), { message: 'must be a lower-case host name or a *. wildcard (e.g. "shop.example.com", "*.example.com")' });

/** A path prefix as slipway.yaml's path_prefix: keeps it: `/`, or segments with no trailing `/`, no query. */
const pathPrefixSchema = z.strictObject({
  path: z.string().regex(/^\/(?:[^/?#\s]+(?:\/[^/?#\s]+)*)?$/, { message: 'must be "/" or "/segment[/segment...]" with no trailing "/", query or fragment' }),
  strip: z.boolean(),
});

export const envRoutesSchema = z.strictObject({
  listen: listenSchema,
  backends: z.array(backendSchema),
  weights: z.record(z.string().min(1), weightSchema),
  sticky: stickySchema.optional(),
  preview: previewSchema.optional(),
  proxy: proxySchema.optional(),
  /**
   * The Host names routed to this environment on its listener. Absent: every host,
   * on a listener of its own; environments that all have hosts may share one
   * (core/listen-overlap.ts, listen-claims.ts).
   */
  hosts: z.array(hostPatternSchema).min(1, 'hosts, when present, lists at least one host').optional(),
  /** Only paths under this prefix (among its hosts' environments); absent: every path. */
  pathPrefix: pathPrefixSchema.optional(),
  /** HTTPS on `listen` (certificates by SNI, HTTP/2), and its plain-HTTP side (tls/tls-routes.ts). Absent: plain HTTP. */
  tls: tlsRoutesSchema(listenSchema).optional(),
  /** Present: the router answers every request 503 (traffic-gate.ts); ACME challenges and the preview listener are not affected. */
  maintenance: maintenanceSchema.optional(),
  /** Present: new requests wait in order until `untilMs` or until a table without it. */
  hold: holdSchema.optional(),
  /** Present while a rollout is at a shadow step: which requests to copy to which release (shadow/shadow-routes.ts). */
  shadow: shadowRoutesSchema.optional(),
  /** Present on the pipeline's production environment with `pipeline.replay`: requests to record for replay (shadow/replay-routes.ts). */
  record: replayRecordRoutesSchema.optional(),
});

export const routeTableSchema = z
  .strictObject({
    version: z.number().int('version must be an integer').min(0, 'version must be ≥ 0'),
    environments: z.record(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*(\/[A-Za-z0-9][A-Za-z0-9_.-]*)?$/, 'environments are named service/environment, each letters, digits, "_", "." and "-"'), envRoutesSchema),
  })
  .superRefine(checkTable);

export type Backend = z.infer<typeof backendSchema>;
export type StickyRoutes = z.infer<typeof stickySchema>;
export type PreviewRoutes = z.infer<typeof previewSchema>;
export type ProxyRoutes = z.infer<typeof proxySchema>;
export type MaintenanceRoutes = z.infer<typeof maintenanceSchema>;
export type HoldRoutes = z.infer<typeof holdSchema>;
export type PathPrefixRoutes = z.infer<typeof pathPrefixSchema>;
export type EnvRoutes = z.infer<typeof envRoutesSchema>;
export type RouteTable = z.infer<typeof routeTableSchema>;

export const EMPTY_ROUTE_TABLE: RouteTable = { version: 0, environments: {} };

/** What the server compares, each reconciler pass, to tell whether the router still runs the table it sent. */
export interface RouteTableHead {
  version: number;
  /** routeTableDigest of the table's environments. */
  digest: string;
}

/** What the router's GET /routes/head answers: the head, and whether routes.json was restored yet. */
export interface RouterHeadAnswer extends RouteTableHead {
  /** False in the moment after a start, before the table saved in routes.json is applied: the head means nothing yet. */
  ready: boolean;
}

/**
 * SHA-256 of a table's routes (its environments, not its version), over JSON with
 * every object's keys sorted: the server and the router get the same digest for
 * the same routes whatever order their parsers kept the keys in. Arrays keep their
 * order (backends are listed in the order the server sent them).
 */
export function routeTableDigest(table: Pick<RouteTable, 'environments'>): string {
  return createHash('sha256').update(canonicalJson(table.environments)).digest('hex');
}

function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonicalJson(x)}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/**
 * Rules across fields: backend ids unique in the whole table (inflight is tracked by
 * id). Two environments on one listen address that may not share it (or that both
 * claim one host and path there) are not refused here: that would refuse every
 * environment's routes for one bad `listen:`. The router gives the address (or
 * the host) to one and reports the other (listen-claims.ts).
 */
function checkTable(table: { environments: Record<string, EnvRoutes> }, ctx: z.RefinementCtx): void {
  const seenIds = new Map<string, string>();
  for (const [env, routes] of Object.entries(table.environments)) {
    routes.backends.forEach((b, i) => {
      const other = seenIds.get(b.id);
      if (other !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['environments', env, 'backends', i, 'id'], message: `backend id "${b.id}" is already used in environment "${other}"; ids must be unique in the table` });
      }
      seenIds.set(b.id, env);
    });
  }
}

/** Parses an untrusted value into a route table; throws E_BAD_REQUEST naming each bad field. */
export function parseRouteTable(input: unknown): RouteTable {
  const result = routeTableSchema.safeParse(input);
  if (result.success) return result.data;
  throw new SlipwayError('E_BAD_REQUEST', `invalid route table: ${describeIssues(result.error.issues)}`, {
    issues: result.error.issues.map((i) => ({ path: formatPath(i.path), message: i.message })),
  });
}

function describeIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues
    .slice(0, 5)
    .map((i) => `${formatPath(i.path) || '(root)'}: ${i.message}`)
    .join('; ') + (issues.length > 5 ? `; and ${issues.length - 5} more` : '');
}

function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`))
    .join('');
}

/** The TCP port in a listen address ("127.0.0.1:8080" → 8080). */
export function listenPort(listen: string): number {
  return Number(listen.slice(listen.lastIndexOf(':') + 1));
}

/** The host in a listen address, without IPv6 brackets ("[::1]:80" → "::1"). */
export function listenHost(listen: string): string {
  const host = listen.slice(0, listen.lastIndexOf(':'));
  return host.startsWith('[') ? host.slice(1, -1) : host;
}

/** "10.0.0.0/8", "::1", "fd00::/8": what trustForwarded may hold (and BlockList can read). */
export function isAddressOrCidr(text: string): boolean {
  const [address, prefix, extra] = text.split('/');
  const bits = isIPv4(address!) ? 32 : isIPv6(address!) ? 128 : 0;
  if (bits === 0 || extra !== undefined) return false;
  return prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= bits);
}
