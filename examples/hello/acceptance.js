// Acceptance test of the example, run by the release pipeline against a deployed
// environment: SLIPWAY_URL is that environment's router (slipway sets it).
// Exit 0 when the service answers as it should there, 1 otherwise.

const base = process.env.SLIPWAY_URL;
if (!base) {
  console.error('SLIPWAY_URL is not set; run me as acceptance.command, or SLIPWAY_URL=http://127.0.0.1:8081 node acceptance.js');
  process.exit(2);
}

async function check(path, expect) {
  const res = await fetch(new URL(path, base), { signal: AbortSignal.timeout(5000) });
  const body = await res.json();
  if (res.status !== 200) throw new Error(`${path}: HTTP ${res.status} ${JSON.stringify(body)}`);
  expect(body);
  console.log(`ok ${path} ${JSON.stringify(body)}`);
}

try {
  await check('/healthz', (b) => {
    if (b.ok !== true) throw new Error(`/healthz: not ok: ${JSON.stringify(b)}`);
  });
  for (let i = 0; i < 5; i++) {
    await check('/', (b) => {
      if (b.service !== 'hello') throw new Error(`/: service is ${b.service}, expected hello`);
    });
  }
} catch (e) {
  console.error(`acceptance failed: ${e.message}`);
  process.exit(1);
}
