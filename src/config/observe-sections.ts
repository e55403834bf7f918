// The observability keys of slipway.yaml: `logs:` (rotation of each instance's
// log) at the top, and `notifications:` (webhooks) in each environment.

import { z } from 'zod';
import { EVENT_TYPES, isEventType } from '../core/events.ts';
import type { LogSpec, WebhookSpec } from '../core/service-config.ts';
import { durationMs, field, refusal, wholeNumber } from './fields.ts';
import { section } from './section.ts';
import { secretReference } from './secrets-section.ts';

export const LOG_DEFAULTS = { max_file_size: '10MB', max_files: 3 } as const;
export const WEBHOOK_DEFAULTS = { format: 'json', timeout: '5s', attempts: 5 } as const;

const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

/** "10MB", "512KB", "1GB" (powers of 1024). */
export function parseSizeBytes(v: unknown): number | null {
  if (typeof v !== 'string') return null;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)\s*$/i.exec(v);
  if (!m) return null;
  const bytes = Math.round(Number(m[1]) * SIZE_UNITS[m[2]!.toLowerCase()]!);
  return bytes >= 64 * 1024 && bytes <= 1024 ** 3 ? bytes : null;
}

const sizeBytes = field('a size from 64KB to 1GB with a unit, such as 512KB or 10MB', parseSizeBytes);

export const logsSection = section({
  max_file_size: sizeBytes.prefault(LOG_DEFAULTS.max_file_size),
  max_files: wholeNumber(0, 20).prefault(LOG_DEFAULTS.max_files),
}).transform((l): LogSpec => ({ maxFileBytes: l.max_file_size, maxFiles: l.max_files }));

const webhookUrl = field('an http:// or https:// URL', (v) => {
  if (typeof v !== 'string') return null;
  try {
    const u = new URL(v);
    return u.protocol === 'http:' || u.protocol === 'https:' ? v : null;
  } catch {
    return null;
  }
});

const eventName = z.unknown().transform((v, ctx): string => {
  // A prefix is any type's part before the dot, so a new family of events is covered by itself.
  if (typeof v === 'string' && (isEventType(v) || (v.endsWith('.*') && EVENT_TYPES.some((t) => t.startsWith(v.slice(0, -1)))))) return v;
  ctx.addIssue({ code: 'custom', message: refusal(`an event type (${EVENT_TYPES.join(', ')}) or a prefix such as rollout.*`, v) });
  return z.NEVER;
});

const webhook = section({
  url: webhookUrl.optional(),
  url_from: secretReference.optional(),
  events: z.array(eventName, { error: (iss) => refusal('a list of event types', iss.input) }).prefault([]),
  format: z.enum(['json', 'slack'], { error: (iss) => refusal('json or slack', iss.input) }).prefault(WEBHOOK_DEFAULTS.format),
  timeout: durationMs.prefault(WEBHOOK_DEFAULTS.timeout),
  attempts: wholeNumber(1, 20).prefault(WEBHOOK_DEFAULTS.attempts),
})
  .refine((w) => (w.url === undefined) !== (w.url_from === undefined), {
    error: 'give exactly one of url: (written here) or url_from: { env | file | vault } (for a URL that is itself a secret, such as a Slack webhook)',
  })
  .transform((w): WebhookSpec => ({
    ...(w.url !== undefined ? { url: w.url } : { urlFrom: w.url_from! }),
    events: w.events, format: w.format, timeoutMs: w.timeout, attempts: w.attempts,
  }));

export const notificationsSection = z.array(webhook, { error: (iss) => refusal('a list of webhooks, each with a url', iss.input) });
