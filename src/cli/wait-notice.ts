// A line now and then while the CLI waits on the server for long: a deploy's release
// is made (its artefact unpacked and checked, an image built) before the server
// answers, which for 8,000 files on a busy machine is half a minute of silence.

/**
 * Resolves as `work` does; every `everyMs` until then, says `line(seconds waited)`.
 * Nothing is said when the answer comes sooner.
 */
export async function withWaitNotice<T>(work: Promise<T>, everyMs: number, say: (line: string) => void, line: (seconds: number) => string): Promise<T> {
  const started = performance.now();
  const timer = setInterval(() => say(line(Math.round((performance.now() - started) / 1000))), everyMs);
  try {
    return await work;
  } finally {
    clearInterval(timer);
  }
}
