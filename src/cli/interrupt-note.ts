// What a command is waiting on, for the line Ctrl-C prints (main.ts): a deploy that
// has its rollout names it, so the user knows which one runs on at the server.

let waitingOn: { what: string; env: string } | null = null;

/** Called once the server has accepted work that goes on without the CLI, e.g. `rollout #12`. */
export function noteWaitingOn(what: string, env: string): void {
  waitingOn = { what, env };
}

/** The line's middle: what goes on at the server, and how to see and stop it. */
export function interruptedDetail(): string {
  if (waitingOn === null) return 'What the server had already accepted goes on there (a rollout runs to its end): `slipway status` shows it, `slipway abort <env>` stops a rollout.';
  return `${waitingOn.what} goes on at the server and runs to its end: \`slipway status ${waitingOn.env}\` shows it, \`slipway abort ${waitingOn.env}\` stops it.`;
}
