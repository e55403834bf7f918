// `slipway server unit`: the systemd unit that runs this slipway's server on a
// host, so it comes back after a reboot or a crash. The one setting a hand-written
// unit gets wrong is KillMode: systemd's default stops every process of the unit,
// which here is the router and every instance, so each `systemctl restart` (an
// upgrade, say) would take every service on the host down. The server is built to
// be restarted while they serve (`slipway server stop` leaves them running and the
// next server adopts them), so the unit stops only the server's own process, as
// OpenSSH's unit does for its sessions.

import { realpathSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';

export interface UnitOptions {
  dataDir: string;
  listen: { host: string; port: number };
  routerWorkers?: number | undefined;
  /** The command's own script (process.argv[1]); default: this process's. */
  script?: string;
  node?: string;
}

/** An argument as systemd's ExecStart= reads it: quoted when it holds a blank, a quote, a backslash or a $ or %. */
function systemdArg(arg: string): string {
  const escaped = arg.replace(/%/g, '%%').replace(/\$/g, '$$$$');
  if (!/[\s"'\\]/.test(escaped) && escaped !== '') return escaped;
  return `"${escaped.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** The command's script as an absolute path: npm's /usr/bin/slipway link stays a link, so an upgrade of the package is what the unit runs. */
function scriptPath(script: string): string {
  if (isAbsolute(script)) return script;
  try {
    return realpathSync(script);
  } catch {
    return resolve(script);
  }
}

export function serverUnit(o: UnitOptions): string {
  const dataDir = resolve(o.dataDir);
  const node = o.node ?? process.execPath;
  const script = scriptPath(o.script ?? process.argv[1] ?? 'slipway');
  const listen = o.listen.host.includes(':') ? `[${o.listen.host}]:${o.listen.port}` : `${o.listen.host}:${o.listen.port}`;
  const args = [node, script, '--data-dir', dataDir, 'server', '--listen', listen, '--log-format', 'json'];
  if (o.routerWorkers !== undefined) args.push('--router-workers', String(o.routerWorkers));
  return `# slipway's server as a systemd service. Install:
#   slipway server unit > /etc/systemd/system/slipway.service
#   systemctl daemon-reload && systemctl enable --now slipway
# Logs: journalctl -u slipway (JSON lines). Secrets the server reads from its
# environment (SLIPWAY_MASTER_KEY, SLIPWAY_SECRET_*, VAULT_TOKEN) go in
# /etc/slipway/env (mode 0600), never in this file.
[Unit]
Description=slipway server (API, reconciler, router supervisor) for ${dataDir}
Wants=network-online.target
After=network-online.target docker.service

[Service]
Type=simple
ExecStart=${args.map(systemdArg).join(' ')}
WorkingDirectory=${dirname(dataDir).replace(/%/g, '%%')}
EnvironmentFile=-/etc/slipway/env
# The router and the instances outlive the server by design: a restart or an
# upgrade of the server drops no request, and the next server adopts them.
# systemd's default (control-group) would stop them all with the server.
KillMode=process
KillSignal=SIGTERM
# The server stops its API, records what it must and exits; instances keep serving.
TimeoutStopSec=60
Restart=always
RestartSec=2
# The router holds a descriptor per connection.
LimitNOFILE=1048576

[Install]
WantedBy=multi-user.target
`;
}
