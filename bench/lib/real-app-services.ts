// The three open-source apps of the real-apps bench as a new user would set them up
// for slipway: `npm install` of the app into its own directory, the app's own
// config where it has one, and a slipway.yaml.
//
// Versions are the newest that run on Node.js 20 (checked with `npm view <pkg>
// engines`): json-server 1.0 betas need >= 22.12, Node-RED 5 needs >= 22.9,
// Verdaccio 6.9 and later need >= 22. `--engine-strict` makes a dependency that
// wants a newer Node fail the install instead of the first request.

import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const APP_VERSIONS = { 'json-server': '0.17.4', 'node-red': '4.1.15', verdaccio: '6.8.0' } as const;
export type AppName = keyof typeof APP_VERSIONS;

/** A service directory ready for `slipway deploy <env>`. */
export interface AppService {
  app: AppName;
  service: string;
  env: string;
  dir: string;
  /** The router's address for the environment (127.0.0.1:<port>). */
  listen: string;
}

/** Verdaccio's own request limit and the environment's proxy.max_body (see writeVerdaccio). */
export const VERDACCIO_MAX_BODY_SIZE = '200mb';
export const REGISTRY_MAX_BODY_MB = 80;
/** The Node-RED environment's proxy limits (see writeNodeRed). */
export const NODE_RED_RESPONSE_TIMEOUT_S = 5;
export const NODE_RED_IDLE_TIMEOUT_S = 20;

export function run(cmd: string, args: string[], opts: { cwd: string; timeoutMs: number; env?: NodeJS.ProcessEnv }): Promise<{ code: number; out: string; seconds: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, out, seconds: (performance.now() - t0) / 1000 });
    });
  });
}

/** `npm install` of the pinned app into a fresh directory; the seconds it took. */
export async function installApp(dir: string, app: AppName): Promise<number> {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `${app}-service`, private: true }, null, 2));
  const r = await run('npm', ['install', '--no-audit', '--no-fund', '--save-exact', '--engine-strict', `${app}@${APP_VERSIONS[app]}`], { cwd: dir, timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`npm install ${app}@${APP_VERSIONS[app]} failed:\n${r.out.slice(-2000)}`);
  return r.seconds;
}

const HEALTH_YAML = (path: string, startDeadline: string) => `health:
  path: ${path}
  interval: 500ms
  start_deadline: ${startDeadline}
`;

/**
 * json-server takes its port as a flag only: slipway expands `${PORT}` in the
 * command's arguments (no shell). One instance: the data is a file the
 * process holds in memory, and two instances would each have their own copy.
 */
export function writeJsonServer(dir: string, listen: string): AppService {
  const posts = Array.from({ length: 60 }, (_, i) => ({ id: i + 1, title: `post ${i + 1}`, author: ['ann', 'bob', 'cy'][i % 3], views: (i * 37) % 500 }));
  writeFileSync(join(dir, 'db.json'), JSON.stringify({ posts, comments: [{ id: 1, postId: 1, body: 'first' }], profile: { name: 'bench' } }, null, 2));
  writeFileSync(join(dir, 'slipway.yaml'), `service: json-api
run:
  command: [node_modules/.bin/json-server, --host, 127.0.0.1, --port, '\${PORT}', db.json]
${HEALTH_YAML('/db', '30s')}environments:
  json:
    instances: 1
    listen: ${listen}
`);
  return { app: 'json-server', service: 'json-api', env: 'json', dir, listen };
}

/**
 * Node-RED's default settings read PORT; its userDir defaults to ~/.node-red, which
 * is the environment's HOME and so outlives releases. It listens on 0.0.0.0 unless
 * told otherwise. Its editor keeps a WebSocket open (/comms) on which the server
 * sends a heartbeat every 15 s (webSocketKeepAliveTime), so the defaults would do.
 * The limits are set low here to check them on a real app in seconds: idle_timeout
 * above the heartbeat must keep the editor connected and cut a silent socket;
 * response_timeout must cut a slow flow with a 504 that names it.
 */
export function writeNodeRed(dir: string, listen: string): AppService {
  writeFileSync(join(dir, 'slipway.yaml'), `service: node-red
run:
  command: [node_modules/.bin/node-red, --define, uiHost=127.0.0.1]
${HEALTH_YAML('/settings', '90s')}environments:
  nodered:
    instances: 1
    listen: ${listen}
    proxy:
      response_timeout: ${NODE_RED_RESPONSE_TIMEOUT_S}s
      idle_timeout: ${NODE_RED_IDLE_TIMEOUT_S}s
`);
  return { app: 'node-red', service: 'node-red', env: 'nodered', dir, listen };
}

/**
 * `npm publish` sends the tarball base64-encoded inside a JSON document, so a 50 MiB
 * package is a ~67 MiB request. Verdaccio refuses bodies over its max_body_size
 * (10mb by default) and the router over proxy.max_body (100MB by default). Both are
 * set: Verdaccio's well above the router's, so the router is the one that says no;
 * the router's to 80MB, which takes the 50 MiB publish and keeps the over-limit
 * one (a 64 MiB package, a ~86 MiB request) cheap to make on a small machine.
 * No uplink: the bench never reaches npmjs through it.
 */
export function writeVerdaccio(dir: string, listen: string): AppService {
  writeFileSync(join(dir, 'config.yaml'), `storage: ./storage
auth:
  htpasswd:
    file: ./htpasswd
uplinks: {}
packages:
  '**':
    access: $all
    publish: $authenticated
    unpublish: $authenticated
max_body_size: ${VERDACCIO_MAX_BODY_SIZE}
server:
  keepAliveTimeout: 60
log: { type: stdout, format: json, level: warn }
`);
  writeFileSync(join(dir, 'slipway.yaml'), `service: registry
run:
  command: [node_modules/.bin/verdaccio, --config, ./config.yaml, --listen, '127.0.0.1:\${PORT}']
${HEALTH_YAML('/-/ping', '60s')}environments:
  registry:
    instances: 1
    listen: ${listen}
    proxy:
      max_body: ${REGISTRY_MAX_BODY_MB}MB
`);
  return { app: 'verdaccio', service: 'registry', env: 'registry', dir, listen };
}
