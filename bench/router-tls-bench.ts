// TLS through the router against nginx with the same certificate, on this machine:
// requests/s over HTTPS with keep-alive (HTTP/1.1), and new TLS handshakes per second.
//
//   node --import tsx bench/router-tls-bench.ts [--duration 5] [--connections 50] [--rounds 3]
//                                               [--warmup 2] [--handshake-seconds 5]
//
// One ECDSA P-256 certificate made by openssl for bench.test, served by the router
// (tls: in its table, one environment, three upstreams) and by nginx (1 worker,
// keep-alive 64 to the same upstreams). Requests come from autocannon in its own
// process (keep-alive, HTTPS, the certificate not verified: the load is what is
// measured), handshakes from `openssl s_time -new` (one full handshake per
// connection, no session reuse, one at a time), both on 127.0.0.1 only, for a bounded time. The
// targets run in turn, round after round, and the figures are medians. The
// router's plain-HTTP listener runs too, so what TLS itself costs it shows apart
// from what the machine's load does to every figure.
// Target: router ≥ 0.6x nginx requests/s.

import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureRouter, type RouterClient } from '../src/router/router-client.ts';
import { NGINX_BIN, hasNginx, nginxConfig } from './lib/nginx.ts';
import { childPids, cpuMicros } from './lib/proc-cpu.ts';
import { freePort, startUpstream } from './lib/bench-processes.ts';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    connections: { type: 'string', default: '50' },
    rounds: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '2' },
    'handshake-seconds': { type: 'string', default: '5' },
  },
});
const durationS = Number(args.duration);
const connections = Number(args.connections);
const rounds = Number(args.rounds);
const warmupS = Number(args.warmup);
const handshakeS = Number(args['handshake-seconds']);

const require = createRequire(import.meta.url);
const AUTOCANNON = require.resolve('autocannon');
const HOST = 'bench.test';

interface Target {
  name: string;
  port: number;
  /** Plain HTTP: the router without TLS, for what TLS itself costs it (no handshake figure). */
  scheme: 'https' | 'http';
  cpuPids: () => number[];
  rps: number[];
  cpuUsPerRequest: number[];
  handshakes: number[];
  errors: number;
}

const LOAD_SCRIPT = `
const autocannon = require(process.argv[1]);
const o = JSON.parse(process.argv[2]);
autocannon({ url: o.url, connections: o.connections, duration: o.duration, headers: { host: o.host }, servername: o.host }, (err, r) => {
  if (err) { console.error(err); process.exit(1); }
  process.stdout.write(JSON.stringify({ total: r.requests.total, duration: r.duration, errors: r.errors + r.timeouts, non2xx: r.non2xx }) + '\\n');
});
`;

function runLoad(port: number, seconds: number, scheme: 'https' | 'http' = 'https'): Promise<{ rps: number; total: number; errors: number }> {
  return new Promise((resolve, reject) => {
    // The load client does not verify the bench's own certificate; nothing else runs with this setting.
    const child = spawn(process.execPath, ['-e', LOAD_SCRIPT, AUTOCANNON, JSON.stringify({ url: `${scheme}://127.0.0.1:${port}/`, connections, duration: seconds, host: HOST })], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, NODE_TLS_REJECT_UNAUTHORIZED: '0', NODE_NO_WARNINGS: '1' },
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      try {
        const r = JSON.parse(out.trim().split('\n').pop()!) as { total: number; duration: number; errors: number; non2xx: number };
        resolve({ rps: r.total / r.duration, total: r.total, errors: r.errors + r.non2xx });
      } catch (e) {
        reject(new Error(`load gave no result (exit ${code}): ${String(e)}\n${out}`));
      }
    });
  });
}

/**
 * Full handshakes per second, one connection at a time, by `openssl s_time -new`
 * (no SNI: this openssl's s_time has no -servername, so both serve their default,
 * the same certificate). Per wall-clock second: s_time rounds its own to whole seconds.
 */
function handshakesPerSecond(port: number, seconds: number): number {
  const startMs = performance.now();
  const out = execFileSync('openssl', ['s_time', '-connect', `127.0.0.1:${port}`, '-new', '-time', String(seconds)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const elapsedS = (performance.now() - startMs) / 1000;
  const m = /(\d+) connections in [\d.]+ real seconds/.exec(out);
  if (!m || Number(m[1]) === 0) throw new Error(`openssl s_time made no connection:\n${out}`);
  return Number(m[1]) / elapsedS;
}

function makeCertificate(dir: string): { certFile: string; keyFile: string } {
  const certFile = join(dir, 'bench.crt');
  const keyFile = join(dir, 'bench.key');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', `/CN=${HOST}`, '-addext', `subjectAltName=DNS:${HOST}`], { stdio: 'ignore' });
  return { certFile, keyFile };
}

/** nginx terminating TLS with the same certificate: 1 worker, HTTP/1.1 keep-alive to the upstreams, as bench/lib/nginx.ts does for plain HTTP. */
async function startNginxTls(o: { dir: string; port: number; upstreamPorts: number[]; certFile: string; keyFile: string }): Promise<{ pid: number; stop(): Promise<void> }> {
  mkdirSync(o.dir, { recursive: true });
  const conf = join(o.dir, 'nginx.conf');
  writeFileSync(conf, nginxConfig({ dir: o.dir, port: o.port, upstreamPorts: o.upstreamPorts, tls: { certFile: o.certFile, keyFile: o.keyFile, serverName: HOST } }));
  const child = spawn(NGINX_BIN, ['-p', o.dir, '-e', join(o.dir, 'error.log'), '-c', conf], { stdio: 'inherit' });
  const deadline = Date.now() + 5_000;
  for (;;) {
    try {
      handshakesPerSecond(o.port, 1);
      break;
    } catch {
      if (Date.now() > deadline || child.exitCode !== null) {
        child.kill('SIGKILL');
        throw new Error(`nginx did not start; see ${join(o.dir, 'error.log')}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    pid: child.pid!,
    stop: () => new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGQUIT');
    }),
  };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function measure(t: Target): Promise<void> {
  const pids = t.cpuPids();
  const before = pids.reduce((n, p) => n + cpuMicros(p), 0);
  const load = await runLoad(t.port, durationS, t.scheme);
  const cpuUs = (pids.reduce((n, p) => n + cpuMicros(p), 0) - before) / Math.max(load.total, 1);
  const hs = t.scheme === 'https' ? handshakesPerSecond(t.port, handshakeS) : NaN;
  t.rps.push(load.rps);
  t.cpuUsPerRequest.push(cpuUs);
  t.handshakes.push(hs);
  t.errors += load.errors;
  console.log(`  ${t.name.padEnd(28)} ${load.rps.toFixed(0).padStart(7)} req/s  ${cpuUs.toFixed(1).padStart(6)} µs CPU/req  ${Number.isNaN(hs) ? '     -' : hs.toFixed(0).padStart(6)} new handshakes/s  errors ${load.errors}`);
}

async function main(): Promise<void> {
  if (!hasNginx()) {
    console.log(`${NGINX_BIN} is missing: install it with \`apt-get install -y nginx\``);
    process.exit(1);
  }
  const dir = mkdtempSync(join(tmpdir(), 'slipway-router-tls-bench-'));
  const upstreams = await Promise.all(['u1', 'u2', 'u3'].map(startUpstream));
  let router: RouterClient | null = null;
  let nginx: { pid: number; stop(): Promise<void> } | null = null;
  try {
    const cert = makeCertificate(dir);
    const [routerPort, nginxPort, plainPort] = [await freePort(), await freePort(), await freePort()];
    router = await ensureRouter({ stateDir: join(dir, 'router') });
    const answer = await router.putRoutes({
      version: 1,
      environments: {
        bench: {
          listen: `127.0.0.1:${routerPort}`,
          backends: upstreams.map((u, i) => ({ id: `u${i + 1}`, release: 'r1', url: `http://127.0.0.1:${u.port}` })),
          weights: { r1: 100 },
          hosts: [HOST],
          tls: { certificates: [{ cert: readFileSync(cert.certFile, 'utf8'), key: readFileSync(cert.keyFile, 'utf8') }], redirectHttp: false },
        },
        plain: {
          listen: `127.0.0.1:${plainPort}`,
          backends: upstreams.map((u, i) => ({ id: `p${i + 1}`, release: 'r1', url: `http://127.0.0.1:${u.port}` })),
          weights: { r1: 100 },
          hosts: [HOST],
        },
      },
    });
    if (!answer.listeners.bench?.listening) throw new Error(`router did not listen: ${JSON.stringify(answer.listeners)}`);
    nginx = await startNginxTls({ dir: join(dir, 'nginx'), port: nginxPort, upstreamPorts: upstreams.map((u) => u.port), ...cert });
    const r = router;
    const n = nginx;
    const targets: Target[] = [
      { name: 'router (TLS, HTTP/1.1)', port: routerPort, scheme: 'https', cpuPids: () => [r.pid], rps: [], cpuUsPerRequest: [], handshakes: [], errors: 0 },
      { name: 'nginx (TLS, 1 worker)', port: nginxPort, scheme: 'https', cpuPids: () => [n.pid, ...childPids(n.pid)], rps: [], cpuUsPerRequest: [], handshakes: [], errors: 0 },
      { name: 'router (plain HTTP)', port: plainPort, scheme: 'http', cpuPids: () => [r.pid], rps: [], cpuUsPerRequest: [], handshakes: [], errors: 0 },
    ];
    console.log(`ECDSA P-256 certificate; ${connections} keep-alive connections, ${durationS} s of requests and ${handshakeS} s of handshakes per target per round, ${rounds} round(s); load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} on ${cpus().length} CPUs`);
    for (const t of targets) if (warmupS > 0) await runLoad(t.port, warmupS, t.scheme);
    for (let round = 1; round <= rounds; round++) {
      console.log(`round ${round}`);
      for (let i = 0; i < targets.length; i++) await measure(targets[(round - 1 + i) % targets.length]!);
    }
    console.log(`\nmedian of ${rounds} round(s)          req/s  CPU µs/req  handshakes/s  errors`);
    for (const t of targets) {
      console.log(`${t.name.padEnd(30)} ${median(t.rps).toFixed(0).padStart(6)}  ${median(t.cpuUsPerRequest).toFixed(1).padStart(10)}  ${median(t.handshakes).toFixed(0).padStart(12)}  ${String(t.errors).padStart(6)}`);
    }
    const [router0, nginx0, plain0] = targets as [Target, Target, Target];
    const perRound = router0.rps.map((x, i) => x / nginx0.rps[i]!);
    const hsRatio = router0.handshakes.map((x, i) => x / nginx0.handshakes[i]!);
    console.log(`\nrouter / nginx TLS requests/s: ${median(perRound).toFixed(2)}x (per round ${perRound.map((x) => x.toFixed(2)).join(', ')}); target ≥ 0.6: ${median(perRound) >= 0.6 ? 'met' : 'NOT met'}`);
    console.log(`router TLS / router plain HTTP requests/s: ${median(router0.rps.map((x, i) => x / plain0.rps[i]!)).toFixed(2)}x; router CPU per request ${median(router0.cpuUsPerRequest).toFixed(0)} µs with TLS, ${median(plain0.cpuUsPerRequest).toFixed(0)} µs without`);
    console.log(`router / nginx new TLS handshakes/s: ${median(hsRatio).toFixed(2)}x (per round ${hsRatio.map((x) => x.toFixed(2)).join(', ')})`);
  } finally {
    if (nginx) await nginx.stop();
    if (router) await router.shutdown().catch(() => process.kill(-router!.pid, 'SIGKILL'));
    for (const u of upstreams) u.child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
