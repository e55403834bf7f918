// The shadow step: live requests copied to the new release (after the user got the
// stable release's answer), answers compared, noise learned from a second stable
// answer. This file is the step as configured and the figures the router reports;
// the router does the copying (router/shadow/), the engine judges (shadow-verdict.ts).

/** A shadow step as written in slipway.yaml, normalised. */
export interface ShadowSpec {
  /** How long requests are copied before the verdict. */
  durationMs: number;
  /** Share of the matching requests copied, 0 < percent ≤ 100. */
  percent: number;
  /** Upper-case methods copied. Only GET and HEAD unless others are listed. */
  methods: string[];
  /** Path patterns: `/api/*` (everything under /api), exact paths, and `*` for one segment inside a path. */
  paths: string[];
  /** Field paths never counted (`/body/updatedAt`, `/headers/etag`; `*` for one segment), and everything under them. */
  ignore: string[];
  /** Lower-case response headers compared (content-type by default). */
  headers: string[];
  /** The share of compared requests with a real difference above which the step fails (0.01 = 1%). */
  maxDiffRate: number;
  /** Fewer compared requests than this at the end: inconclusive. */
  minRequests: number;
  /** What an inconclusive step does: fail the rollout, or let it go on (with a warning). */
  inconclusive: 'pass' | 'fail';
  /** Copies in flight at once; past it a copy is dropped (and counted). */
  maxInFlight: number;
  /** Answers (and request bodies) larger than this are not compared (and counted). */
  maxBodyBytes: number;
}

export const SHADOW_DEFAULTS = {
  percent: 10,
  methods: ['GET', 'HEAD'],
  paths: ['/*'],
  headers: ['content-type'],
  maxDiffRate: 0.01,
  minRequests: 20,
  inconclusive: 'pass',
  maxInFlight: 32,
  maxBodyBytes: 1024 * 1024,
} as const;

/** Methods a copy can never harm (RFC 9110's safe methods). Others only when listed by name. */
export const SAFE_METHODS: readonly string[] = ['GET', 'HEAD', 'OPTIONS'];

/** Headers never compared nor shown: they carry credentials. */
export const SECRET_HEADERS: readonly string[] = ['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key'];

/** One differing field as an example: values short and masked already. */
export interface ShadowExample {
  /** `GET /api/items/:id` */
  endpoint: string;
  /** The request's path, query values masked. */
  url: string;
  /** `/body/items/0/price`, `/status`, `/headers/content-type`, `/body/lines/3`. */
  field: string;
  stable: string;
  candidate: string;
}

export interface ShadowFieldStats {
  /** Compared requests where the new release's answer differed here from the user's. */
  differing: number;
  /** Where the second stable answer differed here from the user's: noise. */
  noise: number;
}

export interface ShadowEndpointStats {
  compared: number;
  /** Compared requests with a difference in a field that is not noise nor ignored. */
  differing: number;
  fields: Record<string, ShadowFieldStats>;
  /** Examples of real differences (noise fields left out). */
  examples: ShadowExample[];
}

/** What the router counts for one shadow step (one run id), cumulative. */
export interface ShadowStatsJson {
  /** `<rollout id>:<step index>`: the server reads only its own step's figures. */
  run: string;
  /** Matching requests picked by `percent`. */
  sampled: number;
  /** Requests copied and answered by both the new release and the second stable backend, then compared. */
  compared: number;
  differing: number;
  /** Copies not compared, by why. */
  skipped: {
    /** The in-flight budget was full. */
    inflight: number;
    /** An answer or the request body was over max_body. */
    bodyTooLarge: number;
    /** A copy failed (connection, timeout). */
    failed: number;
    /** No backend of the new release (or of stable) to send it to. */
    noBackend: number;
  };
  /** `METHOD /route` → figures; at most a bounded number, the rest under `(other)`. */
  endpoints: Record<string, ShadowEndpointStats>;
}
