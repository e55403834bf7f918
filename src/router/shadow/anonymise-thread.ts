// The thread a router worker anonymises its recorded requests on (anonymise-worker.ts
// starts it). An environment's `anonymise` patterns are the deployer's regular
// expressions, and some take time quadratic in the text they scan (`[a-z]+x` over
// 64 kB of letters: 1.5 s). Here such a pattern stalls only this thread, which the
// worker ends when a batch of records takes too long; the requests the worker proxies never wait.

import { parentPort } from 'node:worker_threads';
import { anonymisedLine, anonymiser, type Anonymiser, type RawRecord } from './replay-anonymise.ts';

/** Records to anonymise, each with the patterns of its environment. */
export interface AnonymiseBatch {
  id: number;
  jobs: { patterns: readonly string[]; raw: RawRecord }[];
}

/** The line to keep for each record of batch `id`, in order; null for one whose body cannot be anonymised. */
export interface AnonymiseDone {
  id: number;
  lines: (string | null)[];
}

const port = parentPort;
if (port) {
  // Compiled once per set of patterns (an environment's); a table change brings a new set.
  const byPatterns = new Map<string, Anonymiser>();
  const anonymiserOf = (patterns: readonly string[]): Anonymiser => {
    const key = JSON.stringify(patterns);
    let a = byPatterns.get(key);
    if (!a) {
      if (byPatterns.size >= 64) byPatterns.clear();
      a = anonymiser(patterns);
      byPatterns.set(key, a);
    }
    return a;
  };
  port.on('message', (batch: AnonymiseBatch) => {
    const lines = batch.jobs.map((job) => {
      try {
        return anonymisedLine(anonymiserOf(job.patterns), job.raw);
      } catch {
        return null;
      }
    });
    port.postMessage({ id: batch.id, lines } satisfies AnonymiseDone);
  });
  // The worker judges a batch's time from here: loading this code is not the batch's.
  port.postMessage({ ready: true });
}
