// Verdaccio through the router and direct: a user made over the registry API, a
// generated package of incompressible bytes published with the real `npm publish`,
// its tarball read back, and a publish over the environment's proxy.max_body.

import { randomFillSync } from 'node:crypto';
import { closeSync, copyFileSync, mkdirSync, openSync, readFileSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { send, sha256 } from './http-probe.ts';
import { run } from './real-app-services.ts';

/** Registers a user (PUT /-/user/org.couchdb.user:NAME, as `npm adduser` does); its token. */
export async function addUser(base: string, name: string): Promise<string> {
  const r = await send(`${base}/-/user/org.couchdb.user:${name}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name, password: `${name}-password-1`, type: 'user' }),
  });
  const token = (JSON.parse(r.body.toString()) as { token?: string }).token;
  if (r.status !== 201 || !token) throw new Error(`adding a user to Verdaccio answered ${r.status}: ${r.body.toString().slice(0, 300)}`);
  return token;
}

/** An npmrc with the token for each registry address: npm keys credentials by host and port. */
export function writeNpmrc(file: string, registries: string[], token: string): void {
  writeFileSync(file, registries.map((r) => `//${new URL(r).host}/:_authToken=${token}\n`).join(''), { mode: 0o600 });
}

/** A file of random (so incompressible) bytes, written a MiB at a time. */
export function writeRandomFile(file: string, bytes: number): void {
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(1024 * 1024);
  try {
    for (let left = bytes; left > 0; left -= chunk.length) writeSync(fd, randomFillSync(chunk), 0, Math.min(left, chunk.length));
  } finally {
    closeSync(fd);
  }
}

export interface PackedPackage {
  name: string;
  version: string;
  tgz: string;
  bytes: number;
  sha256: string;
}

/** `npm pack` of a package holding one file (copied from `blob`), into `outDir`. */
export async function packPackage(o: { workDir: string; outDir: string; name: string; blob: string }): Promise<PackedPackage> {
  const dir = join(o.workDir, o.name);
  mkdirSync(dir, { recursive: true });
  const version = '1.0.0';
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: o.name, version, description: 'slipway real-apps bench', license: 'MIT', files: ['blob.bin'] }, null, 2));
  copyFileSync(o.blob, join(dir, 'blob.bin'));
  const r = await run('npm', ['pack', '--pack-destination', o.outDir], { cwd: dir, timeoutMs: 300_000, env: npmEnv() });
  if (r.code !== 0) throw new Error(`npm pack ${o.name} failed:\n${r.out.slice(-1500)}`);
  const tgz = join(o.outDir, `${o.name}-${version}.tgz`);
  return { name: o.name, version, tgz, bytes: statSync(tgz).size, sha256: sha256(readFileSync(tgz)) };
}

function npmEnv(): NodeJS.ProcessEnv {
  return { ...process.env, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' };
}

/**
 * The real `npm publish` of a packed tarball to one registry address. At log level
 * http npm prints each attempt of its request: a connection error it retries (with
 * 10 s and more of backoff, sending the whole body again) shows as "attempt N failed".
 */
export async function npmPublish(o: { tgz: string; registry: string; npmrc: string; cacheDir: string; cwd: string }): Promise<{ code: number; out: string; seconds: number; failedAttempts: string[] }> {
  const r = await run('npm', ['publish', o.tgz, '--registry', o.registry, '--userconfig', o.npmrc, '--cache', o.cacheDir, '--loglevel', 'http'], { cwd: o.cwd, timeoutMs: 300_000, env: npmEnv() });
  return { ...r, failedAttempts: r.out.split('\n').filter((l) => /attempt \d+ failed/.test(l)).map((l) => l.replace(/^npm http fetch /, '')) };
}

export interface Download {
  status: number;
  bytes: number;
  sha256: string;
  seconds: number;
  /** dist.tarball of the version as the registry wrote it for this address. */
  tarballUrl: string;
}

/** The package's metadata, then its tarball at the URL the metadata gives, as npm would. */
export async function downloadTarball(base: string, pkg: PackedPackage): Promise<Download> {
  const meta = await send(`${base}/${pkg.name}`);
  const doc = JSON.parse(meta.body.toString()) as { versions?: Record<string, { dist?: { tarball?: string } }> };
  const tarballUrl = doc.versions?.[pkg.version]?.dist?.tarball ?? '';
  const t0 = performance.now();
  const r = await send(tarballUrl || `${base}/${pkg.name}/-/${pkg.name}-${pkg.version}.tgz`, { timeoutMs: 120_000 });
  return { status: r.status, bytes: r.body.length, sha256: sha256(r.body), seconds: (performance.now() - t0) / 1000, tarballUrl };
}

/**
 * A publish that declares a body of `bytes` and sends none of it: the router should
 * answer 413 from the header alone, before the client has to upload anything.
 */
export function declaredOversizePut(o: { base: string; name: string; bytes: number; token: string }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const url = new URL(`${o.base}/${o.name}`);
    const req = httpRequest({
      host: url.hostname, port: url.port, path: url.pathname, method: 'PUT', agent: false, timeout: 10_000,
      headers: { 'content-type': 'application/json', 'content-length': String(o.bytes), authorization: `Bearer ${o.token}` },
    });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body });
        req.destroy();
      });
    });
    req.on('timeout', () => req.destroy(new Error('no answer in 10 s to a PUT declaring an oversize body')));
    req.on('error', reject);
    req.flushHeaders();
  });
}

/** A small scoped package (its name travels as @scope%2fname in registry URLs). */
export async function publishScoped(o: { dir: string; name: string; registry: string; npmrc: string; cacheDir: string }): Promise<{ code: number; out: string; seconds: number }> {
  mkdirSync(o.dir, { recursive: true });
  writeFileSync(join(o.dir, 'package.json'), JSON.stringify({ name: o.name, version: '1.0.0', main: 'index.js', license: 'MIT' }, null, 2));
  writeFileSync(join(o.dir, 'index.js'), `module.exports = ${JSON.stringify(`hello from ${o.name}`)};\n`);
  return run('npm', ['publish', '--registry', o.registry, '--userconfig', o.npmrc, '--cache', o.cacheDir, '--loglevel', 'http'], { cwd: o.dir, timeoutMs: 120_000, env: npmEnv() });
}

/** `npm install` of a package into a fresh project with a fresh cache, then what require() gives. */
export async function installAndRequire(o: { dir: string; name: string; registry: string; npmrc: string }): Promise<{ code: number; out: string; seconds: number; required: string }> {
  mkdirSync(o.dir, { recursive: true });
  writeFileSync(join(o.dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true }, null, 2));
  const r = await run('npm', ['install', o.name, '--registry', o.registry, '--userconfig', o.npmrc, '--cache', join(o.dir, '.npm-cache'), '--no-audit', '--loglevel', 'http'], { cwd: o.dir, timeoutMs: 120_000, env: npmEnv() });
  const req = await run(process.execPath, ['-e', `process.stdout.write(String(require(${JSON.stringify(o.name)})))`], { cwd: o.dir, timeoutMs: 30_000 });
  return { ...r, required: req.code === 0 ? req.out : `require failed: ${req.out.slice(0, 200)}` };
}
