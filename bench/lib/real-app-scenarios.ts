// What the real-apps bench does with each app once it is deployed: the same use
// through slipway's router and straight at the instance, compared, with figures.

import { join } from 'node:path';
import { BenchReport, single, type Via } from './bench-report.ts';
import { burstOfGets, figuresOf, send, sha256, type Burst } from './http-probe.ts';
import { compareCrud, crudSummary, runCrud } from './json-server-checks.ts';
import { deployFlows, echoOverFlowSocket, editorInBrowser, firstCommsMessages, hasChromium, holdSocket, CHROMIUM, type HeldSocket } from './node-red-checks.ts';
import { hasNginx, startNginx } from './nginx.ts';
import { freePort } from '../../test/support/harness.ts';
import { NODE_RED_IDLE_TIMEOUT_S, NODE_RED_RESPONSE_TIMEOUT_S, REGISTRY_MAX_BODY_MB } from './real-app-services.ts';
import { addUser, declaredOversizePut, downloadTarball, installAndRequire, npmPublish, packPackage, publishScoped, writeNpmrc, writeRandomFile } from './verdaccio-checks.ts';

export interface ScenarioOptions {
  report: BenchReport;
  work: string;
  router: string;
  direct: string;
  rounds: number;
  gets: number;
}

const MiB = 1024 * 1024;

/**
 * `rounds` bursts of `gets` GETs to each side, alternating, after a warm-up of each:
 * the router, the instance direct, and (where nginx is installed) nginx in front of
 * the same instance, the reference proxy of bench/router-bench.ts, so the router's
 * cost on a real app reads against a proxy's and not only against none.
 */
async function compareBursts(o: ScenarioOptions & { app: string; path: string; concurrency: number }): Promise<void> {
  const nginx = hasNginx() ? await startNginx({ dir: join(o.work, `nginx-${o.app}`), port: await freePort(), upstreamPorts: [Number(new URL(o.direct).port)] }) : null;
  try {
    const vias: Via[] = nginx ? ['router', 'direct', 'nginx'] : ['router', 'direct'];
    const bursts: Record<Via, Burst[]> = { router: [], direct: [], nginx: [] };
    const base = (via: Via) => (via === 'router' ? o.router : via === 'direct' ? o.direct : nginx!.url.replace(/\/$/, ''));
    for (const via of vias) await burstOfGets(base(via) + o.path, { count: 50, concurrency: o.concurrency });
    for (let i = 0; i < o.rounds; i++) {
      for (const via of vias) bursts[via].push(await burstOfGets(base(via) + o.path, { count: o.gets, concurrency: o.concurrency }));
    }
    for (const via of vias) {
      const f = figuresOf(bursts[via]);
      o.report.addFigures({ app: o.app, what: `GET ${o.path} ×${o.gets}×${o.rounds}, ${o.concurrency} conn`, via }, f);
      o.report.check(f.errors === 0, `${o.app}: ${f.requests} GETs ${o.path} ${via}`, `${f.errors} errors, ${f.rps.toFixed(0)} req/s, p50 ${f.p50Ms.toFixed(2)} ms, p99 ${f.p99Ms.toFixed(2)} ms`);
    }
  } finally {
    await nginx?.stop();
  }
}

export async function checkJsonServer(o: ScenarioOptions): Promise<void> {
  const app = 'json-server';
  const viaRouter = await runCrud(o.router);
  const viaDirect = await runCrud(o.direct);
  const differences = compareCrud({ base: o.router, run: viaRouter }, { base: o.direct, run: viaDirect });
  o.report.check(differences.length === 0, `${app}: CRUD sequence gives the same statuses, bodies and headers through the router as direct`, differences.join('; ') || crudSummary(viaRouter));
  o.report.addFigures({ app, what: 'CRUD sequence', via: 'router' }, figuresOf([viaRouter.burst]));
  o.report.addFigures({ app, what: 'CRUD sequence', via: 'direct' }, figuresOf([viaDirect.burst]));
  await compareBursts({ ...o, app, path: '/posts/1', concurrency: 8 });
}

export async function checkNodeRed(o: ScenarioOptions & { browser: boolean }): Promise<void> {
  const app = 'node-red';
  const r = o.report;
  // The editor's page.
  const pages: Record<'router' | 'direct', { status: number; sha: string }> = { router: { status: 0, sha: '' }, direct: { status: 0, sha: '' } };
  for (const via of ['router', 'direct'] as const) {
    const t0 = performance.now();
    const page = await send(`${via === 'router' ? o.router : o.direct}/`);
    pages[via] = { status: page.status, sha: sha256(page.body) };
    r.add(single({ app, what: 'editor page GET /', via, seconds: (performance.now() - t0) / 1000, bytes: page.body.length, errors: page.status === 200 ? 0 : 1 }));
  }
  r.check(pages.router.status === 200 && pages.router.sha === pages.direct.sha, `${app}: the editor page loads through the router, byte for byte as direct`, `${pages.router.status} vs ${pages.direct.status}`);

  // The editor's /comms WebSocket: its first messages, heartbeats aside.
  const ws = (base: string) => base.replace(/^http/, 'ws');
  const commsRouter = await firstCommsMessages(`${ws(o.router)}/comms`);
  const commsDirect = await firstCommsMessages(`${ws(o.direct)}/comms`);
  for (const [via, c] of [['router', commsRouter], ['direct', commsDirect]] as const) {
    r.add({ ...single({ app, what: '/comms: open (p50 ms), messages in 2 s', via, seconds: (c.openMs ?? 0) / 1000, bytes: c.messages.join('').length, errors: c.error || c.openMs === null ? 1 : 0, requests: c.messages.length }), p50Ms: c.openMs });
  }
  const same = JSON.stringify([...commsRouter.messages].sort()) === JSON.stringify([...commsDirect.messages].sort());
  r.check(commsRouter.openMs !== null && commsRouter.messages.length > 0 && same, `${app}: /comms connects through the router and sends the same first messages as direct`,
    `${commsRouter.messages.length} vs ${commsDirect.messages.length} messages (${commsRouter.messages.map((m) => (JSON.parse(m) as { topic: string }).topic).join(', ')})${commsRouter.error ? `; error ${commsRouter.error}` : ''}`);

  // A flow deployed through the admin API, by the router.
  const deployed = await deployFlows(o.router);
  r.check(deployed.status === 200 && deployed.body.includes('"rev"'), `${app}: POST /flows through the router deploys a flow`, `${deployed.status} ${deployed.body.slice(0, 120)}`);
  await new Promise((res) => setTimeout(res, 1_000));
  const hello = async (base: string, headers: Record<string, string> = {}) => {
    const x = await send(`${base}/hello?from=bench`, { headers });
    return { status: x.status, body: JSON.parse(x.body.toString() || '{}') as Record<string, unknown> };
  };
  const hr = await hello(o.router);
  const hd = await hello(o.direct);
  const strip = (b: Record<string, unknown>) => JSON.stringify({ ...b, forwardedFor: null, forwardedProto: null, forwardedHost: null });
  r.check(hr.status === 200 && hr.status === hd.status && strip(hr.body) === strip(hd.body), `${app}: the deployed flow's GET /hello answers the same through the router as direct`, `${hr.status} ${JSON.stringify(hr.body)}`);
  r.check(hr.body.forwardedFor === '127.0.0.1' && hr.body.forwardedProto === 'http' && hr.body.forwardedHost === new URL(o.router).host && hd.body.forwardedFor === null,
    `${app}: the app sees X-Forwarded-For/-Proto/-Host from the router and none direct`, `router ${hr.body.forwardedFor}/${hr.body.forwardedProto}/${hr.body.forwardedHost}`);
  const trusted = await hello(o.router, { 'x-forwarded-proto': 'https', 'x-forwarded-for': '203.0.113.7' });
  r.check(trusted.body.forwardedProto === 'https' && trusted.body.forwardedFor === '203.0.113.7, 127.0.0.1',
    `${app}: a loopback client's X-Forwarded-Proto/For are kept (trust_forwarded defaults to loopback)`, `${trusted.body.forwardedProto}, ${trusted.body.forwardedFor}`);
  const echoRouter = await echoOverFlowSocket(`${ws(o.router)}/ws/echo`);
  const echoDirect = await echoOverFlowSocket(`${ws(o.direct)}/ws/echo`);
  r.check(JSON.stringify(echoRouter) === JSON.stringify(echoDirect) && echoRouter.length === 5, `${app}: the flow's WebSocket echo answers the same through the router as direct`, echoRouter.join(' | '));
  await checkNodeRedLimits(o);
  await compareBursts({ ...o, app, path: '/hello?from=bench', concurrency: 4, rounds: 1 });

  // The editor in a real browser, through the router and direct.
  if (!o.browser || !hasChromium()) {
    console.log(`skip ${app}: the editor in a browser (${o.browser ? `${CHROMIUM} not found` : '--no-browser'})`);
    return;
  }
  for (const via of ['router', 'direct'] as const) {
    const b = await editorInBrowser(`${via === 'router' ? o.router : o.direct}/`, 10_000);
    r.add(single({ app, what: 'editor in Chromium (load)', via, seconds: b.loadSeconds, bytes: 0, errors: b.failures.length + (b.sawLostConnection ? 1 : 0) }));
    r.check(b.hasWorkspace && !b.sawLostConnection && b.socketsClosed === 0 && b.framesReceived > 0 && b.failures.length === 0,
      `${app}: the editor in Chromium ${via === 'router' ? 'through the router' : 'direct'} shows no "Lost connection to server" in 10 s`,
      `load ${b.loadSeconds.toFixed(1)} s, sockets ${b.socketUrls.join(' ')}, ${b.framesReceived} frames, ${b.socketsClosed} closed${b.failures.length ? `; ${b.failures.slice(0, 5).join(', ')}` : ''}`);
  }
}

/**
 * The environment's idle_timeout and response_timeout on the real app, all at once
 * over one window a little longer than the idle limit: the editor's /comms (the
 * server's heartbeat keeps it busy) must stay open; the flow's echo socket, silent
 * after one message, must be cut by the router and not direct; a flow slower than
 * response_timeout must get the router's 504 naming it, and direct its answer.
 */
async function checkNodeRedLimits(o: ScenarioOptions): Promise<void> {
  const app = 'node-red';
  const r = o.report;
  const ws = (base: string) => base.replace(/^http/, 'ws');
  const holdMs = (NODE_RED_IDLE_TIMEOUT_S + 10) * 1000;
  const subscribe = ['notification/#', 'status/#', 'debug'].map((topic) => JSON.stringify({ subscribe: topic }));
  const slow = async (base: string, ms: number) => {
    const t0 = performance.now();
    const x = await send(`${base}/slow?ms=${ms}`, { timeoutMs: 60_000 });
    return { status: x.status, body: x.body.toString(), seconds: (performance.now() - t0) / 1000, bytes: x.body.length };
  };
  const [commsRouter, commsDirect, echoRouter, echoDirect, slowResults] = await Promise.all([
    holdSocket(`${ws(o.router)}/comms`, { first: subscribe, holdMs }),
    holdSocket(`${ws(o.direct)}/comms`, { first: subscribe, holdMs }),
    holdSocket(`${ws(o.router)}/ws/echo`, { first: ['hello'], holdMs }),
    holdSocket(`${ws(o.direct)}/ws/echo`, { first: ['hello'], holdMs }),
    Promise.all([slow(o.router, 2_000), slow(o.direct, 2_000), slow(o.router, 7_000), slow(o.direct, 7_000)]),
  ]);
  const beats = (h: HeldSocket) => h.received.filter((t) => t === 'hb').length;
  r.check(commsRouter.closedBySeconds === null && beats(commsRouter) > 0 && commsDirect.closedBySeconds === null,
    `${app}: /comms stays open through the router for ${holdMs / 1000} s with idle_timeout ${NODE_RED_IDLE_TIMEOUT_S}s (the server's heartbeats count)`,
    `router ${beats(commsRouter)} heartbeats, ${commsRouter.closedBySeconds === null ? 'open' : `closed at ${commsRouter.closedBySeconds.toFixed(1)} s`}; direct ${beats(commsDirect)} heartbeats`);
  const cutAt = echoRouter.closedBySeconds;
  r.check(cutAt !== null && cutAt >= NODE_RED_IDLE_TIMEOUT_S - 0.5 && cutAt < NODE_RED_IDLE_TIMEOUT_S + 5 && echoDirect.closedBySeconds === null,
    `${app}: a silent WebSocket is cut by the router at idle_timeout ${NODE_RED_IDLE_TIMEOUT_S}s and kept open direct`,
    `router ${cutAt === null ? 'open' : `closed at ${cutAt.toFixed(1)} s (code ${echoRouter.code})`}; direct ${echoDirect.closedBySeconds === null ? 'open' : `closed at ${echoDirect.closedBySeconds.toFixed(1)} s`}`);
  const [fastRouter, fastDirect, longRouter, longDirect] = slowResults;
  r.check(fastRouter.status === 200 && fastRouter.body === fastDirect.body, `${app}: a flow answering in 2 s passes response_timeout ${NODE_RED_RESPONSE_TIMEOUT_S}s`, `${fastRouter.status} in ${fastRouter.seconds.toFixed(1)} s`);
  let limit = '';
  try {
    limit = (JSON.parse(longRouter.body) as { limit?: string }).limit ?? '';
  } catch {
    // not the router's JSON answer: the check below says so
  }
  r.check(longRouter.status === 504 && limit === 'response_timeout' && longRouter.seconds < NODE_RED_RESPONSE_TIMEOUT_S + 2 && longDirect.status === 200,
    `${app}: a flow answering in 7 s gets the router's 504 naming response_timeout, and 200 direct`,
    `router ${longRouter.status} in ${longRouter.seconds.toFixed(1)} s ${longRouter.body.trim().slice(0, 200)}; direct ${longDirect.status} in ${longDirect.seconds.toFixed(1)} s`);
  r.add(single({ app, what: 'GET /slow?ms=7000 (response_timeout 5s)', via: 'router', seconds: longRouter.seconds, bytes: longRouter.bytes, errors: longRouter.status === 200 ? 0 : 1 }));
  r.add(single({ app, what: 'GET /slow?ms=7000 (response_timeout 5s)', via: 'direct', seconds: longDirect.seconds, bytes: longDirect.bytes, errors: longDirect.status === 200 ? 0 : 1 }));
}

export async function checkVerdaccio(o: ScenarioOptions): Promise<void> {
  const app = 'verdaccio';
  const r = o.report;
  const token = await addUser(o.router, 'bench');
  const npmrc = join(o.work, 'npmrc');
  writeNpmrc(npmrc, [o.router, o.direct], token);
  const blob = join(o.work, 'blob-50mib.bin');
  writeRandomFile(blob, 50 * MiB);
  const packDir = join(o.work, 'packages');
  const packs = {
    router: await packPackage({ workDir: packDir, outDir: packDir, name: 'blob-via-router', blob }),
    direct: await packPackage({ workDir: packDir, outDir: packDir, name: 'blob-direct', blob }),
  };
  for (const via of ['router', 'direct'] as const) {
    const registry = `${via === 'router' ? o.router : o.direct}/`;
    const p = await npmPublish({ tgz: packs[via].tgz, registry, npmrc, cacheDir: join(o.work, 'npm-cache'), cwd: o.work });
    r.add(single({ app, what: `npm publish (${(packs[via].bytes / MiB).toFixed(1)} MiB tarball)`, via, seconds: p.seconds, bytes: packs[via].bytes, errors: p.code === 0 ? 0 : 1 }));
    r.check(p.code === 0 && p.failedAttempts.length === 0, `${app}: npm publish of a ${(packs[via].bytes / MiB).toFixed(1)} MiB package ${via === 'router' ? 'through the router' : 'direct'}, first attempt`,
      `${p.seconds.toFixed(1)} s${p.failedAttempts.length ? `; ${p.failedAttempts.join('; ')}` : ''}${p.code === 0 ? '' : `: ${p.out.slice(-600)}`}`);
  }
  for (const via of ['router', 'direct'] as const) {
    const d = await downloadTarball(via === 'router' ? o.router : o.direct, packs.router);
    r.add(single({ app, what: 'tarball download (blob-via-router)', via, seconds: d.seconds, bytes: d.bytes, errors: d.status === 200 ? 0 : 1 }));
    r.check(d.status === 200 && d.sha256 === packs.router.sha256 && new URL(d.tarballUrl).host === new URL(via === 'router' ? o.router : o.direct).host,
      `${app}: the tarball read back ${via === 'router' ? 'through the router' : 'direct'} has the published sha256, at a URL of that address`, `${d.status}, sha256 ${d.sha256.slice(0, 16)}…, ${d.tarballUrl}`);
  }

  // A scoped package, as teams publish to a private registry: published through the
  // router, then installed by npm (metadata at /@bench%2fhello, then the tarball).
  const scopedName = '@bench/hello';
  const pub = await publishScoped({ dir: join(o.work, 'scoped'), name: scopedName, registry: `${o.router}/`, npmrc, cacheDir: join(o.work, 'npm-cache') });
  r.check(pub.code === 0, `${app}: npm publish of ${scopedName} through the router`, `${pub.seconds.toFixed(1)} s${pub.code === 0 ? '' : `: ${pub.out.slice(-400)}`}`);
  for (const via of ['router', 'direct'] as const) {
    const inst = await installAndRequire({ dir: join(o.work, `consumer-${via}`), name: scopedName, registry: `${via === 'router' ? o.router : o.direct}/`, npmrc });
    r.add(single({ app, what: `npm install ${scopedName} (fresh cache)`, via, seconds: inst.seconds, bytes: 0, errors: inst.code === 0 ? 0 : 1 }));
    r.check(inst.code === 0 && inst.required === `hello from ${scopedName}`, `${app}: npm install ${scopedName} ${via === 'router' ? 'through the router' : 'direct'} and require() it`,
      `${inst.seconds.toFixed(1)} s: ${inst.required}${inst.code === 0 ? '' : `; ${inst.out.slice(-400)}`}`);
  }

  // Over the limit: a 64 MiB package is a ~86 MiB publish, over proxy.max_body.
  const big = join(o.work, 'blob-64mib.bin');
  writeRandomFile(big, 64 * MiB);
  const over = await packPackage({ workDir: packDir, outDir: packDir, name: 'blob-over-limit', blob: big });
  const p = await npmPublish({ tgz: over.tgz, registry: `${o.router}/`, npmrc, cacheDir: join(o.work, 'npm-cache'), cwd: o.work });
  const npmSaid = /npm error 413.*/.exec(p.out)?.[0] ?? p.out.split('\n').filter((l) => l.includes('error')).slice(0, 3).join(' / ');
  r.add(single({ app, what: `npm publish over max_body (${(over.bytes / MiB).toFixed(1)} MiB), refused`, via: 'router', seconds: p.seconds, bytes: over.bytes, errors: p.code === 0 ? 0 : 1 }));
  // npm must read the 413 on its first attempt: a connection reset instead (the router
  // closing while npm still sends) makes npm retry the whole upload, then say EPIPE.
  r.check(p.code !== 0 && /\b413\b/.test(p.out) && p.failedAttempts.length === 0, `${app}: npm publish over proxy.max_body ${REGISTRY_MAX_BODY_MB}MB is refused by the router with 413, read on npm's first attempt`,
    `${npmSaid}; ${p.seconds.toFixed(1)} s${p.failedAttempts.length ? `; ${p.failedAttempts.join('; ')}` : ''}`);
  const stored = await send(`${o.router}/blob-over-limit`);
  r.check(stored.status === 404, `${app}: the refused package was not stored`, `GET /blob-over-limit ${stored.status}`);
  const refused = await declaredOversizePut({ base: o.router, name: 'blob-over-limit', bytes: REGISTRY_MAX_BODY_MB * MiB + 1, token });
  let body: { error?: string; limit?: string; message?: string } = {};
  try {
    body = JSON.parse(refused.body) as typeof body;
  } catch {
    // not JSON: the check below says so
  }
  r.check(refused.status === 413 && body.error === 'body_too_large' && body.limit === 'max_body', `${app}: a PUT declaring ${REGISTRY_MAX_BODY_MB} MiB + 1 byte gets 413 with a body naming the limit, before any body is sent`, `${refused.status} ${refused.body.slice(0, 300)}`);
}
