// Runs nginx in the foreground from a temp dir, as the bench's reference proxy:
// one worker, keep-alive to the same upstreams as the router.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const NGINX_BIN = '/usr/sbin/nginx';

export function hasNginx(): boolean {
  return existsSync(NGINX_BIN);
}

export interface RunningNginx {
  pid: number;
  url: string;
  stop(): Promise<void>;
}

/** `tls`: terminate TLS (and HTTP/2) with this certificate, for the TLS bench. */
/** `workers`: worker_processes (default 1; `auto` is one per core, nginx's usual production setting). */
export function nginxConfig(o: { dir: string; port: number; upstreamPorts: number[]; workers?: number | 'auto'; tls?: { certFile: string; keyFile: string; serverName: string } }): string {
  const servers = o.upstreamPorts.map((p) => `    server 127.0.0.1:${p};`).join('\n');
  return `daemon off;
master_process on;
worker_processes ${o.workers ?? 1};
pid ${join(o.dir, 'nginx.pid')};
error_log ${join(o.dir, 'error.log')} warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${join(o.dir, 'client_body')};
  proxy_temp_path ${join(o.dir, 'proxy')};
  fastcgi_temp_path ${join(o.dir, 'fastcgi')};
  uwsgi_temp_path ${join(o.dir, 'uwsgi')};
  scgi_temp_path ${join(o.dir, 'scgi')};
  upstream backends {
${servers}
    keepalive 64;
  }
  server {
    listen 127.0.0.1:${o.port}${o.tls ? ` ssl http2;
    server_name ${o.tls.serverName};
    ssl_certificate ${o.tls.certFile};
    ssl_certificate_key ${o.tls.keyFile}` : ''};
    location / {
      proxy_pass http://backends;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
}

export async function startNginx(o: { dir: string; port: number; upstreamPorts: number[]; workers?: number | 'auto' }): Promise<RunningNginx> {
  mkdirSync(o.dir, { recursive: true });
  const conf = join(o.dir, 'nginx.conf');
  writeFileSync(conf, nginxConfig(o));
  const child: ChildProcess = spawn(NGINX_BIN, ['-p', o.dir, '-e', join(o.dir, 'error.log'), '-c', conf], { stdio: 'inherit' });
  const url = `http://127.0.0.1:${o.port}/`;
  const deadline = Date.now() + 5_000;
  for (;;) {
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`nginx did not start; see ${join(o.dir, 'error.log')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    pid: child.pid!,
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGQUIT');
      }),
  };
}
