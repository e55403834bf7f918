// A tiny backend for the router bench, run as its own process so that it does not
// share an event loop with the proxy or the load generator. Prints its port on stdout.

import { createServer } from 'node:http';

const name = process.argv[2] ?? 'upstream';
const body = Buffer.from(`hello from ${name}\n`);

const server = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
  res.end(body);
});
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => {
  const a = server.address();
  process.stdout.write(`${typeof a === 'object' && a !== null ? a.port : 0}\n`);
});
process.on('SIGTERM', () => process.exit(0));
