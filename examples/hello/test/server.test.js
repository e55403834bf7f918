// The example's own tests (node:test, no dependencies): `node --test` runs them,
// and so does the release pipeline (test.command in slipway.yaml).

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

let child;
let base;

before(async () => {
  child = spawn(process.execPath, ['server.js'], {
    cwd: new URL('..', import.meta.url),
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', GREETING: 'hi from the tests' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout });
  for await (const line of lines) {
    const port = JSON.parse(line).port;
    if (port) {
      base = `http://127.0.0.1:${port}`;
      break;
    }
  }
});

after(async () => {
  child.kill('SIGTERM');
  await once(child, 'exit');
});

test('GET /healthz answers 200 ok', async () => {
  const res = await fetch(`${base}/healthz`);
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { ok: true });
});

test('GET / names the service and carries the greeting', async () => {
  const body = await (await fetch(`${base}/`)).json();
  assert.equal(body.service, 'hello');
  assert.equal(body.greeting, 'hi from the tests');
});

test('an unknown path answers 404', async () => {
  const res = await fetch(`${base}/nope`);
  await res.arrayBuffer();
  assert.equal(res.status, 404);
});
