// Request schemas of the traffic-gate API (maintenance, traffic pauses). The CLI
// builds its requests from these same types.

import { z } from 'zod';
import { findUnsafeMessageCharacter, HOLD_QUEUE_MAX, MAINTENANCE_MESSAGE_MAX, MAX_PAUSE_MS, MIN_PAUSE_MS, unsafeMessageReason } from '../engine/traffic-gates.ts';

export const maintenanceOnBody = z.strictObject({
  /**
   * Shown to every client (HTML page or JSON); absent: a generic "down for maintenance".
   * One line of plain text: looked at before it is trimmed, so a refused character's position is the one the user typed.
   */
  message: z.string()
    .superRefine((text, ctx) => {
      const c = findUnsafeMessageCharacter(text);
      if (c) ctx.addIssue({ code: 'custom', message: unsafeMessageReason(c), params: { character: c.codePoint, position: c.position } });
    })
    .trim().min(1, 'the message must not be empty').max(MAINTENANCE_MESSAGE_MAX, `the message is at most ${MAINTENANCE_MESSAGE_MAX} characters`).optional(),
  /** Sent as Retry-After; absent: 120. */
  retryAfterSeconds: z.number().int('a whole number of seconds').min(1, 'at least 1 second').max(86_400, 'at most 86400 seconds (a day)').optional(),
});
export type MaintenanceOnBody = z.input<typeof maintenanceOnBody>;

export const pauseTrafficBody = z.strictObject({
  /** How long requests are held at most; then they are sent on by themselves. */
  maxMs: z.number().int('a whole number of ms')
    .min(MIN_PAUSE_MS, `at least ${MIN_PAUSE_MS} ms (--max 100ms)`)
    .max(MAX_PAUSE_MS, `at most ${MAX_PAUSE_MS} ms (--max 10m): held clients wait all that time`),
  /** How many requests may wait at once; past it, a 503. Absent: 10000. */
  queueLimit: z.number().int('a whole number').min(1, 'at least 1').max(HOLD_QUEUE_MAX, `at most ${HOLD_QUEUE_MAX}`).optional(),
});
export type PauseTrafficBody = z.input<typeof pauseTrafficBody>;
