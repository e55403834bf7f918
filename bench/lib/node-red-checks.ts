// Node-RED through the router and direct: its editor page, the editor's /comms
// WebSocket, the editor in a real browser (Chromium driven by playwright-core), and
// a flow deployed through the admin API (an HTTP endpoint and a WebSocket echo).

import { existsSync } from 'node:fs';
import { WebSocket } from 'undici';
import { send } from './http-probe.ts';

export interface CommsResult {
  openMs: number | null;
  /** The messages received in the first 2 s, heartbeats left out (their data is a clock). */
  messages: string[];
  error: string | null;
}

/** Opens /comms as the editor does, subscribes to what the editor subscribes to, and listens for 2 s. */
export function firstCommsMessages(wsUrl: string): Promise<CommsResult> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const result: CommsResult = { openMs: null, messages: [], error: null };
    const ws = new WebSocket(wsUrl);
    const done = () => {
      clearTimeout(timer);
      resolve(result);
    };
    const timer = setTimeout(() => ws.close(), 2_000 + 5_000);
    ws.onopen = () => {
      result.openMs = performance.now() - t0;
      for (const topic of ['notification/#', 'status/#', 'debug']) ws.send(JSON.stringify({ subscribe: topic }));
      setTimeout(() => ws.close(), 2_000);
    };
    ws.onmessage = (e) => {
      for (const m of JSON.parse(String(e.data)) as { topic: string }[]) if (m.topic !== 'hb') result.messages.push(JSON.stringify(m));
    };
    ws.onerror = (e) => (result.error = String((e as unknown as { message?: string }).message ?? 'error'));
    ws.onclose = done;
  });
}

/** A tab with GET /hello (answers what it saw of the request) and a WebSocket echo at /ws/echo. */
export const BENCH_FLOWS = [
  { id: 'tab1', type: 'tab', label: 'slipway bench' },
  { id: 'in1', type: 'http in', z: 'tab1', url: '/hello', method: 'get', wires: [['fn1']] },
  {
    id: 'fn1', type: 'function', z: 'tab1', outputs: 1, wires: [['out1']],
    func: "const h = msg.req.headers;\nmsg.payload = { hello: 'world', query: msg.req.query, forwardedFor: h['x-forwarded-for'] || null, forwardedProto: h['x-forwarded-proto'] || null, forwardedHost: h['x-forwarded-host'] || null };\nreturn msg;",
  },
  { id: 'out1', type: 'http response', z: 'tab1', statusCode: '', headers: {}, wires: [] },
  // GET /slow?ms=N answers after N ms: a slow report, or a long poll.
  { id: 'in2', type: 'http in', z: 'tab1', url: '/slow', method: 'get', wires: [['fn2']] },
  { id: 'fn2', type: 'function', z: 'tab1', outputs: 1, wires: [['delay2']], func: 'msg.delay = Number(msg.req.query.ms) || 0;\nmsg.payload = { waitedMs: msg.delay };\nreturn msg;' },
  { id: 'delay2', type: 'delay', z: 'tab1', pauseType: 'delayv', timeout: '1', timeoutUnits: 'seconds', rate: '1', nbRateUnits: '1', rateUnits: 'second', randomFirst: '1', randomLast: '5', randomUnits: 'seconds', drop: false, wires: [['out2']] },
  { id: 'out2', type: 'http response', z: 'tab1', statusCode: '', headers: {}, wires: [] },
  { id: 'wsl', type: 'websocket-listener', path: '/ws/echo', wholemsg: 'false' },
  { id: 'wsin', type: 'websocket in', z: 'tab1', server: 'wsl', client: '', wires: [['wsout']] },
  { id: 'wsout', type: 'websocket out', z: 'tab1', server: 'wsl', client: '', wires: [] },
];

/** POST /flows as the editor's Deploy button does (full deployment, API v2). */
export async function deployFlows(base: string): Promise<{ status: number; body: string }> {
  const r = await send(`${base}/flows`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'node-red-api-version': 'v2', 'node-red-deployment-type': 'full' },
    body: JSON.stringify({ flows: BENCH_FLOWS }),
  });
  return { status: r.status, body: r.body.toString() };
}

export interface HeldSocket {
  /** Messages received, each as its topic (Node-RED's /comms) or its length. */
  received: string[];
  /** Seconds after opening when the other side closed it, or null if it was open until we closed it. */
  closedBySeconds: number | null;
  code: number;
}

/**
 * Opens a WebSocket, sends `first`, then stays silent for `holdMs` and reports what
 * came and whether the other side closed it first (an idle limit would).
 */
export function holdSocket(wsUrl: string, o: { first: string[]; holdMs: number }): Promise<HeldSocket> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const r: HeldSocket = { received: [], closedBySeconds: null, code: 0 };
    let isClosingOurselves = false;
    const ws = new WebSocket(wsUrl);
    const timer = setTimeout(() => {
      isClosingOurselves = true;
      ws.close();
    }, o.holdMs);
    ws.onopen = () => {
      for (const m of o.first) ws.send(m);
    };
    ws.onmessage = (e) => {
      const text = String(e.data);
      try {
        r.received.push(...(JSON.parse(text) as { topic: string }[]).map((m) => m.topic));
      } catch {
        r.received.push(`${text.length} bytes`);
      }
    };
    ws.onclose = (e) => {
      clearTimeout(timer);
      if (!isClosingOurselves) r.closedBySeconds = (performance.now() - t0) / 1000;
      r.code = e.code;
      resolve(r);
    };
  });
}

/** Three small messages and one of 200 KB to the flow's echo; what came back, in order. */
export function echoOverFlowSocket(wsUrl: string): Promise<string[]> {
  return new Promise((resolve) => {
    const got: string[] = [];
    const ws = new WebSocket(wsUrl);
    const timer = setTimeout(() => ws.close(), 10_000);
    ws.onopen = () => {
      for (let i = 0; i < 3; i++) ws.send(`ping ${i}`);
      ws.send('x'.repeat(200_000));
    };
    ws.onmessage = (e) => {
      const text = String(e.data);
      got.push(text.length > 40 ? `${text.length} bytes` : text);
      if (got.length === 4) ws.close();
    };
    ws.onerror = () => got.push('error');
    ws.onclose = (e) => {
      clearTimeout(timer);
      got.push(`close ${e.code}`);
      resolve(got);
    };
  });
}

export interface BrowserResult {
  loadSeconds: number;
  sawLostConnection: boolean;
  hasWorkspace: boolean;
  socketUrls: string[];
  framesReceived: number;
  socketsClosed: number;
  /** Requests the page made that failed or answered >= 400, the editor's internet lookups aside. */
  failures: string[];
}

export const CHROMIUM = '/usr/bin/chromium';
export const hasChromium = (): boolean => existsSync(CHROMIUM);

/** The editor in headless Chromium: load it, then watch it for `watchMs` as a user would. */
export async function editorInBrowser(url: string, watchMs: number): Promise<BrowserResult> {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  try {
    const page = await browser.newPage();
    const r: BrowserResult = { loadSeconds: 0, sawLostConnection: false, hasWorkspace: false, socketUrls: [], framesReceived: 0, socketsClosed: 0, failures: [] };
    page.on('websocket', (ws) => {
      r.socketUrls.push(ws.url());
      ws.on('framereceived', () => r.framesReceived++);
      ws.on('close', () => r.socketsClosed++);
    });
    const local = (u: string) => u.startsWith(new URL(url).origin);
    page.on('requestfailed', (q) => local(q.url()) && r.failures.push(`failed ${q.url()}`));
    page.on('response', (s) => s.status() >= 400 && local(s.url()) && r.failures.push(`${s.status()} ${s.url()}`));
    const t0 = performance.now();
    await page.goto(url, { waitUntil: 'load', timeout: 60_000 });
    r.loadSeconds = (performance.now() - t0) / 1000;
    // Node-RED shows "Lost connection to server, reconnecting..." when /comms drops.
    const deadline = Date.now() + watchMs;
    while (Date.now() < deadline && !r.sawLostConnection) {
      await page.waitForTimeout(500);
      r.sawLostConnection = String(await page.evaluate('document.body.innerText')).includes('Lost connection to server');
    }
    r.hasWorkspace = (await page.locator('#red-ui-workspace').count()) > 0;
    return r;
  } finally {
    await browser.close();
  }
}
