// Publishing events: each is written to the event log first (so a client that
// reconnects with Last-Event-ID finds it), then handed to the subscribers in this
// process (SSE streams, metrics, webhooks). Subscribers must not block: anything
// slow (a webhook) is queued by the subscriber itself. Publishing never throws at
// the caller: an event that cannot be recorded must not stop a rollout.

import type { EventFilter, ObserveStore } from '../store/observe-store.ts';
import type { EventInput, SlipwayEvent } from '../core/events.ts';

export type EventListener = (e: SlipwayEvent) => void;

/** Events kept in the log; older ones are pruned (their ids are never reused). */
const KEEP_EVENTS = 50_000;
const PRUNE_EVERY = 1000;

export interface EventBusOptions {
  store: ObserveStore;
  now?: () => number;
  onError?: (message: string, err: unknown) => void;
}

export class EventBus {
  private readonly listeners = new Set<EventListener>();
  private sincePrune = 0;

  constructor(private readonly opts: EventBusOptions) {}

  /** Records the event and tells every subscriber; returns it with its id, or null if it could not be recorded. */
  publish(input: EventInput): SlipwayEvent | null {
    let event: SlipwayEvent;
    try {
      event = this.opts.store.appendEvent(input, (this.opts.now ?? Date.now)());
      if (++this.sincePrune >= PRUNE_EVERY) {
        this.sincePrune = 0;
        this.opts.store.pruneEvents(KEEP_EVENTS);
      }
    } catch (e) {
      this.opts.onError?.(`cannot record event ${input.type}`, e);
      return null;
    }
    for (const fn of this.listeners) {
      try {
        fn(event);
      } catch (e) {
        this.opts.onError?.(`an event subscriber failed on ${event.type}`, e);
      }
    }
    return event;
  }

  /** Called with every event published from now on; returns the unsubscribe. */
  subscribe(fn: EventListener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Recorded events after an id (oldest first): how a reconnecting client catches up. */
  since(afterId: number, filter: EventFilter = {}, limit = 1000): SlipwayEvent[] {
    return this.opts.store.eventsAfter(afterId, filter, limit);
  }

  get subscriberCount(): number {
    return this.listeners.size;
  }
}
