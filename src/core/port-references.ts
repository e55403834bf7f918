// `${PORT}` in run.command: a program that takes its port only as a flag
// (`node app.js --port ${PORT}`) gets the instance's port without a shell. The
// argv stays split as written; each argument has its references replaced, so a
// port can never add or remove an argument.

/** The names a command may reference: PORT always, and run.port_env when it is another name. */
export function portReferenceNames(portEnv: string): string[] {
  return portEnv === 'PORT' ? ['PORT'] : ['PORT', portEnv];
}

/** Replaces `${PORT}` and `${<portEnv>}` in every argument by the port; anything else stays as it is. */
export function expandPortReferences(argv: readonly string[], o: { portEnv: string; port: number }): string[] {
  const names = portReferenceNames(o.portEnv);
  return argv.map((arg) => {
    let out = arg;
    for (const name of names) out = out.replaceAll(`\${${name}}`, String(o.port));
    return out;
  });
}
