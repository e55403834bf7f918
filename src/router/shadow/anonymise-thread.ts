// The thread a router worker anonymises its recorded requests on (anonymise-worker.ts
// starts it). An environment's `anonymise` patterns are the deployer's regular
// expressions, and some take time quadratic in the text they scan (`[a-z]+x` over
// 64 kB of letters: 1.5 s). Here such a pattern stalls only this thread, which the
// worker ends when a record takes too long; the requests the worker proxies never wait.

import { parentPort } from 'node:worker_threads';
import { anonymisedLine, anonymiser, type Anonymiser, type RawRecord } from './replay-anonymise.ts';

/** One record to anonymise, with the patterns of its environment. */
export interface AnonymiseJob {
  id: number;
  patterns: readonly string[];
  raw: RawRecord;
}

/** The line to keep for job `id`, or null when its body cannot be anonymised. */
export interface AnonymiseDone {
  id: number;
  line: string | null;
}

const port = parentPort;
if (port) {
  // Compiled once per set of patterns (an environment's); a table change brings a new set.
  const byPatterns = new Map<string, Anonymiser>();
  port.on('message', (job: AnonymiseJob) => {
    const key = JSON.stringify(job.patterns);
    let a = byPatterns.get(key);
    if (!a) {
      if (byPatterns.size >= 64) byPatterns.clear();
      a = anonymiser(job.patterns);
      byPatterns.set(key, a);
    }
    let line: string | null;
    try {
      line = anonymisedLine(a, job.raw);
    } catch {
      line = null;
    }
    port.postMessage({ id: job.id, line } satisfies AnonymiseDone);
  });
  // The worker judges a record's time from here: loading this code is not the record's.
  port.postMessage({ ready: true });
}
