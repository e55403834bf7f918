// slipway's metrics, in the Prometheus text format (prom-client). Counters and
// histograms follow the published events; gauges (rollouts by phase, instances by
// release and state) and the router's traffic figures are read at scrape time from
// the store and from the samples the server already takes of the router, so a
// scrape costs two small queries and no call to the router.
//
// One registry per server (ServerMetrics): nothing here is module-level state, so
// two servers in one process (in-process tests) count apart. Whoever counts is
// handed the object, or a callback of it, by server.ts.

import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { bucketBoundsMs, type LatencyHistogram } from '../core/latency-histogram.ts';
import type { SlipwayEvent } from '../core/events.ts';

const DURATION_BUCKETS_S = [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];
/** Request latency buckets (seconds) for the router histogram, as Prometheus users expect them. */
export const LATENCY_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** What the scrape-time gauges read; the server sets it once its store and sampler exist. */
export interface MetricsSource {
  rolloutPhaseCounts(): { env: string; phase: string; count: number }[];
  instanceCounts(): { env: string; release: number; state: string; count: number }[];
  /** env → release number → the router's cumulative counts for it. */
  routerCounts(): ReadonlyMap<string, ReadonlyMap<string, { requests: number; status: Record<string, number>; latency: LatencyHistogram; long?: { requests: number; errors: number } }>>;
  /** env → outcome (kept, too_large, not_text, too_slow, queue_full, thread_failed, dropped_overflow, dropped_stopped, dropped_write_failed) → requests the router picked for replay's sample. */
  recordedRequests?(): ReadonlyMap<string, Readonly<Record<string, number>>>;
  /** What the audit trail owes the disk (entries waiting in memory, failed writes, entries not even kept). */
  auditHealth?(): { waiting: number; writeFailures: number; lost: number };
  /** Free bytes (for an unprivileged user) of the data directory's file system; null when unknown. */
  dataDiskFreeBytes?(): number | null;
  /** Every certificate the router is given (tls:), by environment: its names and when it expires. */
  tlsCertificates?(): { env: string; names: string[]; notAfterMs: number }[];
}


/** Rollout, analysis and notification metrics of one server, in a registry of its own. */
export class ServerMetrics {
  readonly registry = new Registry();
  private source: MetricsSource | null = null;
  private readonly rolloutsFinished: Counter;
  private readonly stepDuration: Histogram;
  private readonly analysisResults: Counter;
  private readonly automaticRollbacks: Counter;
  private readonly eventsPublished: Counter;
  private readonly pipelineStage: Histogram;
  private readonly notificationsSent: Counter;
  private readonly routeDriftRepairs: Counter;
  private readonly tlsRenewalFailures: Counter;

  constructor() {
    const registers = [this.registry];
    const source = () => this.source;
    this.rolloutsFinished = new Counter({
      name: 'slipway_rollouts_finished_total', help: 'Rollouts that ended, by environment, kind and final phase.',
      labelNames: ['env', 'kind', 'phase'], registers,
    });
    this.stepDuration = new Histogram({
      name: 'slipway_rollout_step_duration_seconds', help: 'How long each finished rollout step took, by environment and step type.',
      labelNames: ['env', 'step'], buckets: DURATION_BUCKETS_S, registers,
    });
    this.analysisResults = new Counter({
      name: 'slipway_analysis_results_total', help: 'Analysis decisions (pass, fail, inconclusive) as they changed, by environment.',
      labelNames: ['env', 'decision'], registers,
    });
    this.automaticRollbacks = new Counter({
      name: 'slipway_automatic_rollbacks_total', help: 'Rollouts stopped or releases rolled back by the analysis, by environment.',
      labelNames: ['env'], registers,
    });
    this.eventsPublished = new Counter({ name: 'slipway_events_total', help: 'Events published, by type.', labelNames: ['type'], registers });
    this.pipelineStage = new Histogram({
      name: 'slipway_pipeline_stage_duration_seconds', help: 'Pipeline stage durations, by stage and outcome.',
      labelNames: ['stage', 'outcome'], buckets: DURATION_BUCKETS_S, registers,
    });
    this.notificationsSent = new Counter({
      name: 'slipway_notifications_total', help: 'Webhook deliveries by outcome (delivered, failed, dropped).', labelNames: ['outcome'], registers,
    });
    this.routeDriftRepairs = new Counter({
      name: 'slipway_router_drift_repairs_total',
      help: "Times the router's route table was found not to be the one the server last sent (changed behind its back, or restored from an old file), and was sent again; by environment ('' when only the version differed).",
      labelNames: ['env'], registers,
    });
    this.tlsRenewalFailures = new Counter({
      name: 'slipway_tls_renewal_failures_total',
      help: 'Failed attempts to obtain or renew a certificate from the ACME CA (source acme) or to load certificate files (source files), by environment; the certificate in use keeps serving.',
      labelNames: ['env', 'source'], registers,
    });

    // Read at scrape time from what the server keeps anyway (the store, the router samples).
    new Gauge({
      name: 'slipway_rollouts', help: 'Rollouts recorded, by environment and phase.', labelNames: ['env', 'phase'], registers,
      collect() {
        this.reset();
        for (const r of source()?.rolloutPhaseCounts() ?? []) this.set({ env: r.env, phase: r.phase }, r.count);
      },
    });
    new Gauge({
      name: 'slipway_instances', help: 'Instances that may be running, by environment, release and state (ready = healthy and routed).',
      labelNames: ['env', 'release', 'state'], registers,
      collect() {
        this.reset();
        for (const i of source()?.instanceCounts() ?? []) this.set({ env: i.env, release: String(i.release), state: i.state }, i.count);
      },
    });
    new Counter({
      name: 'slipway_router_requests_total', help: 'Requests the router answered, by environment, release and status class (as last sampled, about every second).',
      labelNames: ['env', 'release', 'class'], registers,
      collect() {
        this.reset();
        for (const [env, releases] of source()?.routerCounts() ?? []) {
          for (const [release, snap] of releases) {
            for (const [cls, n] of Object.entries(snap.status)) if (n > 0) this.inc({ env, release, class: cls }, n);
          }
        }
      },
    });
    new Counter({
      name: 'slipway_router_errors_total', help: 'Requests answered 5xx by the router (the service\'s or its own 502/503/504), by environment and release.',
      labelNames: ['env', 'release'], registers,
      collect() {
        this.reset();
        for (const [env, releases] of source()?.routerCounts() ?? []) {
          for (const [release, snap] of releases) this.inc({ env, release }, snap.status['5xx'] ?? 0);
        }
      },
    });
    new Counter({
      name: 'slipway_router_long_requests_total',
      help: 'Requests that took longer than the environment\'s proxy.long_request (long polls, slow reports), by environment and release: counted in slipway_router_requests_total, left out of the latency histogram.',
      labelNames: ['env', 'release'], registers,
      collect() {
        this.reset();
        for (const [env, releases] of source()?.routerCounts() ?? []) {
          for (const [release, snap] of releases) if (snap.long) this.inc({ env, release }, snap.long.requests);
        }
      },
    });
    new Counter({
      name: 'slipway_router_long_request_errors_total',
      help: 'Long requests (past proxy.long_request) that ended in a 5xx or were cut, by environment and release.',
      labelNames: ['env', 'release'], registers,
      collect() {
        this.reset();
        for (const [env, releases] of source()?.routerCounts() ?? []) {
          for (const [release, snap] of releases) if (snap.long) this.inc({ env, release }, snap.long.errors);
        }
      },
    });
    new Counter({
      name: 'slipway_router_recorded_requests_total',
      help: "Requests the router picked for replay's sample (record:), by environment and outcome, each counted once: kept (written to the sample file; newer lines replace it later), or why not (too_large: a body over record.max_body, any body with bodies off, or a line over half of record.max_bytes; not_text; too_slow: anonymising took past its budget; queue_full: its worker held too many lines; thread_failed: the anonymising thread failed or ran out of memory; dropped_overflow: a whole sample of newer lines was waiting to be written; dropped_stopped: the environment stopped recording while it was on its way; dropped_write_failed: the sample file could not be written, router.log says why). Counts start again when the router restarts.",
      labelNames: ['env', 'outcome'], registers,
      collect() {
        this.reset();
        for (const [env, outcomes] of source()?.recordedRequests?.() ?? []) {
          for (const [outcome, n] of Object.entries(outcomes)) this.inc({ env, outcome }, n);
        }
      },
    });
    new Gauge({
      name: 'slipway_audit_waiting_entries', help: 'Audit entries that could not be written yet (a full disk) and wait in memory; /readyz is not ready while any wait.',
      registers,
      collect() {
        this.set(source()?.auditHealth?.().waiting ?? 0);
      },
    });
    new Counter({
      name: 'slipway_audit_write_failures_total', help: 'Failed attempts to write an audit entry or its signed checkpoint (each is retried; nothing is dropped).',
      registers,
      collect() {
        this.reset();
        this.inc(source()?.auditHealth?.().writeFailures ?? 0);
      },
    });
    new Counter({
      name: 'slipway_audit_entries_lost_total', help: 'Audit entries not kept because the waiting queue was full; each run of them is written as one audit.lost entry.',
      registers,
      collect() {
        this.reset();
        this.inc(source()?.auditHealth?.().lost ?? 0);
      },
    });
    new Gauge({
      name: 'slipway_data_disk_free_bytes', help: "Free bytes on the data directory's file system (what an unprivileged user may still write).",
      registers,
      collect() {
        this.reset();
        const free = source()?.dataDiskFreeBytes?.();
        if (typeof free === 'number') this.set(free);
      },
    });
    new Gauge({
      name: 'slipway_tls_certificate_expiry_timestamp_seconds',
      help: 'When each certificate the router serves expires (Unix time), by environment and its names (comma-separated): alert well before it, e.g. time() + 14 days.',
      labelNames: ['env', 'names'], registers,
      collect() {
        this.reset();
        for (const c of source()?.tlsCertificates?.() ?? []) this.set({ env: c.env, names: c.names.join(',') }, Math.floor(c.notAfterMs / 1000));
      },
    });
    this.registry.registerMetric(routerLatencyMetric(source) as unknown as Counter);
  }

  /** What the scrape-time gauges read; server.ts sets it once its store and sampler exist, and clears it on close. */
  setSource(s: MetricsSource | null): void {
    this.source = s;
  }

  /** One repair of the router's table, for each environment whose routes had drifted. */
  countRouteDriftRepair(envs: readonly string[]): void {
    if (envs.length === 0) this.routeDriftRepairs.inc({ env: '' });
    for (const env of envs) this.routeDriftRepairs.inc({ env });
  }

  /** Records one finished pipeline stage (build, test, stage, verify, approve, release, watch). */
  observePipelineStage(o: { stage: string; outcome: 'succeeded' | 'failed' | 'cancelled' | string; seconds: number }): void {
    this.pipelineStage.observe({ stage: o.stage, outcome: o.outcome }, o.seconds);
  }

  countNotification(outcome: 'delivered' | 'failed' | 'dropped'): void {
    this.notificationsSent.inc({ outcome });
  }

  /** Subscribe this to the event bus: counters and histograms that follow events. */
  recordEvent(e: SlipwayEvent): void {
    this.eventsPublished.inc({ type: e.type });
    const env = e.env ?? '';
    switch (e.type) {
      case 'rollout.succeeded':
      case 'rollout.rolled_back':
      case 'rollout.failed':
        this.rolloutsFinished.inc({ env, kind: String(e.data.kind ?? ''), phase: e.type.slice('rollout.'.length) });
        break;
      case 'rollout.step':
        if (typeof e.data.durationMs === 'number') this.stepDuration.observe({ env, step: String(e.data.stepType ?? 'unknown') }, e.data.durationMs / 1000);
        break;
      case 'analysis.result':
        this.analysisResults.inc({ env, decision: String(e.data.decision ?? 'unknown') });
        break;
      case 'rollback.automatic':
        this.automaticRollbacks.inc({ env });
        break;
      case 'tls.renewal_failed':
        this.tlsRenewalFailures.inc({ env, source: String(e.data.source ?? 'unknown') });
        break;
      default:
        break;
    }
  }

  async render(): Promise<{ contentType: string; text: string }> {
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }
}

/**
 * The router's latency histogram, re-bucketed: the router keeps fine logarithmic
 * buckets (about 9% wide); each is counted under the first Prometheus bound at or
 * above its upper edge, so `le` is never understated.
 */
function routerLatencyMetric(source: () => MetricsSource | null) {
  return {
    name: 'slipway_router_request_duration_seconds',
    help: 'Request latency through the router, by environment and release.',
    type: 'histogram',
    aggregator: 'sum',
    async get() {
      const values: { metricName: string; labels: Record<string, string | number>; value: number }[] = [];
      for (const [env, releases] of source()?.routerCounts() ?? []) {
        for (const [release, snap] of releases) {
          const counts = rebucket(snap.latency);
          let cumulative = 0;
          LATENCY_BUCKETS_S.forEach((le, k) => {
            cumulative += counts[k]!;
            values.push({ metricName: `${this.name}_bucket`, labels: { env, release, le }, value: cumulative });
          });
          values.push({ metricName: `${this.name}_bucket`, labels: { env, release, le: '+Inf' }, value: snap.latency.count });
          values.push({ metricName: `${this.name}_sum`, labels: { env, release }, value: snap.latency.sumMs / 1000 });
          values.push({ metricName: `${this.name}_count`, labels: { env, release }, value: snap.latency.count });
        }
      }
      return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
    },
    reset() {},
  };
}

/** Counts per LATENCY_BUCKETS_S bound (not cumulative); what is above the last bound is left to +Inf. */
export function rebucket(h: LatencyHistogram): number[] {
  const out = LATENCY_BUCKETS_S.map(() => 0);
  for (const [index, n] of Object.entries(h.counts)) {
    const highS = bucketBoundsMs(Number(index))[1] / 1000;
    const k = LATENCY_BUCKETS_S.findIndex((le) => highS <= le + 1e-12);
    if (k >= 0) out[k]! += n;
  }
  return out;
}
