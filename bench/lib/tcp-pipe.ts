// The least any proxy written for Node can cost, for the router bench's "tcp"
// target: no HTTP at all. Each client connection is piped byte for byte to one
// upstream connection (round robin over the upstreams, per connection), so it says
// what moving the bytes through a Node process costs on this machine; the "floor"
// target's CPU over this one's is what parsing and writing HTTP in Node costs. Not
// a proxy anyone could deploy: it cannot route, count or drain per request. Prints
// its port.
//
//   node --import tsx bench/lib/tcp-pipe.ts UPSTREAM_PORT...

import { connect, createServer } from 'node:net';

const ports = process.argv.slice(2).map(Number);
let next = 0;
const server = createServer({ noDelay: true }, (client) => {
  const upstream = connect({ port: ports[next++ % ports.length]!, host: '127.0.0.1', noDelay: true });
  client.pipe(upstream).pipe(client);
  client.on('error', () => upstream.destroy());
  upstream.on('error', () => client.destroy());
});
server.listen(0, '127.0.0.1', () => {
  const a = server.address();
  process.stdout.write(`${typeof a === 'object' && a !== null ? a.port : 0}\n`);
});
process.on('SIGTERM', () => process.exit(0));
