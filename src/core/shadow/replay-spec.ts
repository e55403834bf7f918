// Replay to staging: the router records a bounded, anonymised sample of production's
// requests; a pipeline stage replays them against staging's new release and
// production's stable release and compares the answers as a shadow step does
// (noise learned from two stable answers). This file is the settings as configured
// (an environment's `record:`, and `pipeline.replay`) and the record as kept on disk.

/** `record:` of an environment, normalised: which of its requests the router keeps for replay. */
export interface RecordSpec {
  /** Share of the matching requests recorded, 0 < percent ≤ 100. */
  percent: number;
  /** Upper-case methods recorded. Only GET and HEAD unless others are listed. */
  methods: string[];
  /** Path patterns as the shadow step's: `/api/*`, exact paths, `*` for one segment. */
  paths: string[];
  /** Lower-case request headers kept with each request (credentials never). */
  headers: string[];
  /** Request bodies kept (only methods listed by name carry one); without, a request with a body is not recorded. */
  bodies: boolean;
  /** Regular expressions (source text): what they match in a URL, a kept header or a body is replaced before it is written. */
  anonymise: string[];
  /** The newest this many requests are kept on disk. */
  sample: number;
  /** And at most this many bytes. */
  maxBytes: number;
  /** A request whose body is larger than this is not recorded. */
  maxBodyBytes: number;
}

/** `pipeline.replay` of slipway.yaml, normalised: how the replay stage judges staging's answers. */
export interface ReplaySpec {
  /** Field paths never counted (as a shadow step's `ignore`). */
  ignore: string[];
  /** Lower-case response headers compared. */
  compareHeaders: string[];
  /** The share of replayed requests with a real difference above which the stage fails (0.01 = 1%). */
  maxDiffRate: number;
  /** Fewer compared requests than this: inconclusive. */
  minRequests: number;
  /** What an inconclusive replay does to the run. */
  inconclusive: 'pass' | 'fail';
  /** Each replayed request's time limit, per answer. */
  timeoutMs: number;
}

export const RECORD_DEFAULTS = {
  percent: 5,
  methods: ['GET', 'HEAD'],
  paths: ['/*'],
  headers: ['accept', 'accept-language', 'content-type'],
  bodies: false,
  sample: 200,
  maxBytes: 1024 * 1024,
  maxBodyBytes: 64 * 1024,
} as const;

export const REPLAY_DEFAULTS = {
  compareHeaders: ['content-type'],
  maxDiffRate: 0.01,
  minRequests: 20,
  inconclusive: 'pass',
  timeoutMs: 10_000,
} as const;

/** Bounds of `sample` and `max_bytes`: a sample is for replaying, not an access log. */
export const REPLAY_LIMITS = { minSample: 10, maxSample: 100_000, minBytes: 4 * 1024, maxBytes: 256 * 1024 * 1024, maxPatterns: 32, maxPatternLength: 300 } as const;

/** What replaces an anonymised value, in a URL, a header or a body. */
export const ANONYMISED = '__anonymised__';

/** One recorded request, one JSON line on disk. Everything in it was anonymised before it was written. */
export interface ReplayRecord {
  /** When the router saw it (ms since the epoch). */
  at: number;
  method: string;
  /** Path and query as the instance got them (a stripped path prefix already taken off). */
  url: string;
  /** The kept request headers, lower-case names. */
  headers: Record<string, string>;
  /** The body as base64, when bodies are recorded and the request had one. */
  body?: string;
}
