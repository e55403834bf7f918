// The commented slipway.yaml that `slipway init` writes. The defaults it quotes come
// from CONFIG_DEFAULTS so that the comments cannot drift from the loader.

import { stringify } from 'yaml';
import { SlipwayError } from '../core/errors.ts';
import { SERVICE_NAME } from './fields.ts';
import { CONFIG_DEFAULTS } from './schema.ts';
import { splitShellWords } from './shell-words.ts';

export interface InitConfigOptions {
  /** The service name; lowercase letters, digits and dashes, starting with a letter. */
  service: string;
  /** The command that starts one instance, e.g. "node server.js". */
  command: string;
  /** What the command was guessed from, and what to check: comment lines above it. */
  commandNotes?: string[];
  /** The path health probes request; the default when absent. */
  healthPath?: string;
  /** Why that health path: comment lines above it. */
  healthNotes?: string[];
}

const comments = (lines: string[] | undefined, indent: string) => (lines ?? []).map((l) => `${indent}# ${l}\n`).join('');

// A YAML scalar on one line: plain when that is safe, quoted otherwise. JSON
// strings are valid YAML double-quoted scalars, which covers multi-line text.
function yamlScalar(value: string): string {
  const text = stringify(value, { lineWidth: 0 }).trimEnd();
  return text.includes('\n') ? JSON.stringify(value) : text;
}

export function renderInitConfig({ service, command, commandNotes, healthPath, healthNotes }: InitConfigOptions): string {
  if (!SERVICE_NAME.test(service)) {
    throw new SlipwayError(
      'E_CONFIG_INVALID',
      `"${service}" cannot be a service name: use lowercase letters, digits and -, starting with a letter (at most 63 characters)`,
      { service },
    );
  }
  const split = splitShellWords(command);
  if (!split.ok || split.words.length === 0) {
    const reason = split.ok ? 'it is empty' : split.error;
    throw new SlipwayError('E_CONFIG_INVALID', `the command ${JSON.stringify(command)} cannot be used: ${reason}`, {
      command,
    });
  }
  const h = CONFIG_DEFAULTS.health;
  const s = CONFIG_DEFAULTS.shutdown;
  const e = CONFIG_DEFAULTS.environment;
  return `# slipway.yaml: how slipway runs and releases ${service}.
# Every key is described in slipway's docs/config.md; check this file with
# \`slipway validate\`. Keys marked (default ...) may be left out.

# The service's name: lowercase letters, digits and -, starting with a letter.
service: ${service}

run:
  # The command that starts one instance. It is split into arguments as a shell
  # would split them (quotes work), but no shell runs it, so pipes, redirects and
  # $VARIABLES do not, but \${PORT} is replaced by the instance's port. A list of
  # arguments works too. node_modules/.bin is on PATH, as in an npm script.
${comments(commandNotes, '  ')}  command: ${yamlScalar(command)}
  # The environment variable that tells each instance which port to listen on.
  port_env: ${CONFIG_DEFAULTS.run.port_env}   # (default ${CONFIG_DEFAULTS.run.port_env})

# How slipway decides that an instance is ready for traffic.
health:
${comments(healthNotes, '  ')}  path: ${healthPath ?? h.path}   # requested on each instance; any 2xx answer passes (default ${h.path})
  interval: ${h.interval}   # time between probes (default ${h.interval})
  timeout: ${h.timeout}   # a probe slower than this counts as failed (default ${h.timeout})
  healthy_threshold: ${h.healthy_threshold}   # passes in a row to become healthy (default ${h.healthy_threshold})
  unhealthy_threshold: ${h.unhealthy_threshold}   # failures in a row to become unhealthy (default ${h.unhealthy_threshold})
  # A new instance that is not healthy by then fails the deploy.
  start_deadline: ${h.start_deadline}   # (default ${h.start_deadline})

# How an instance is stopped.
shutdown:
  # After leaving the router, time for requests already in flight to finish.
  drain_timeout: ${s.drain_timeout}   # (default ${s.drain_timeout})
  # After SIGTERM, time to exit before SIGKILL.
  kill_timeout: ${s.kill_timeout}   # (default ${s.kill_timeout})

# The places this service runs. Each needs its own listen address, unless
# environments (of this or other services) split one by host name with
# hosts: [shop.example.com] and path_prefix: /api (see docs/config.md#hosts).
environments:
  staging:
    instances: ${e.instances}   # copies running at once, 1 to 64 (default ${e.instances})
    # What runs the instances: local processes, or Docker containers built from
    # the service's Dockerfile (runtime: docker; see docs/docker.md).
    runtime: process   # (default process)
    # Where slipway's router takes this environment's traffic: host:port or a port.
    listen: 127.0.0.1:8081
    # How a new release replaces the old one.
    strategy:
      type: ${e.strategy.type}
      batch: ${e.strategy.batch}   # new instances per step: a count or a percentage such as 25% (default ${e.strategy.batch})
      max_unavailable: ${e.strategy.max_unavailable}   # instances that may be out of service meanwhile (default ${e.strategy.max_unavailable})
    # Environment variables for every instance, e.g. { LOG_LEVEL: debug }.
    # Never secrets: \`slipway secret set staging NAME\` stores one encrypted, or
    # read one from Vault, a file or the server's environment under secrets:.
    config: {}
  production:
    instances: 2
    listen: 127.0.0.1:8080
    strategy: { type: rolling, batch: 1, max_unavailable: 0 }
    config: {}
`;
}
