// Real TLS clients for tests: HTTP/1.1 (node:https), HTTP/2 (node:http2) and a bare
// handshake that reports the certificate it got. Always to 127.0.0.1, naming the
// host by SNI and Host only: no DNS.

import { connect as http2Connect } from 'node:http2';
import { request as httpsRequest, type Agent } from 'node:https';
import { connect as tlsConnect, type PeerCertificate } from 'node:tls';

export interface TlsAnswer {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
  /** The leaf's subject CN. */
  certCn: string;
  alpn: string | false;
}

export function https1Get(o: { port: number; host: string; path?: string; ca: string; agent?: Agent; servername?: string }): Promise<TlsAnswer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      { host: '127.0.0.1', port: o.port, path: o.path ?? '/', servername: o.servername ?? o.host, headers: { host: o.host }, ca: o.ca, agent: o.agent ?? false },
      (res) => {
        const socket = res.socket as import('node:tls').TLSSocket;
        const certCn = String(socket.getPeerCertificate().subject?.CN ?? '');
        const alpn = socket.alpnProtocol ?? false;
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers, certCn, alpn }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.setTimeout(5_000, () => req.destroy(new Error('timed out')));
    req.end();
  });
}

/** `hostHeader`: a Host header sent besides :authority, as some HTTP/2 clients do. */
export function http2Get(o: { port: number; host: string; path?: string; ca: string; hostHeader?: string }): Promise<TlsAnswer> {
  return new Promise((resolve, reject) => {
    const session = http2Connect(`https://127.0.0.1:${o.port}`, { ca: o.ca, servername: o.host });
    session.on('error', reject);
    const socket = session.socket as import('node:tls').TLSSocket;
    const stream = session.request({ ':path': o.path ?? '/', ':authority': o.host, ...(o.hostHeader === undefined ? {} : { host: o.hostHeader }) });
    let headers: Record<string, string | string[] | undefined> = {};
    let body = '';
    stream.setEncoding('utf8');
    stream.on('response', (h) => (headers = h as typeof headers));
    stream.on('data', (d: string) => (body += d));
    stream.on('error', reject);
    stream.on('end', () => {
      const certCn = String(socket.getPeerCertificate().subject?.CN ?? '');
      const alpn = socket.alpnProtocol ?? false;
      session.close();
      resolve({ status: Number(headers[':status']), body, headers, certCn, alpn });
    });
  });
}

/** Only the handshake: the leaf the listener gave for this SNI name (or none), not verified. */
export function peerCertificate(o: { port: number; servername?: string }): Promise<PeerCertificate> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port: o.port, ...(o.servername ? { servername: o.servername } : {}), rejectUnauthorized: false }, () => {
      const cert = socket.getPeerCertificate();
      socket.destroy();
      resolve(cert);
    });
    socket.on('error', reject);
  });
}

/** A handshake offering `alpn` (e.g. ACME's acme-tls/1): the protocol the listener chose and the leaf it gave, as PEM. */
export function alpnHandshake(o: { port: number; servername: string; alpn: string[] }): Promise<{ alpn: string | false; certPem: string }> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port: o.port, servername: o.servername, ALPNProtocols: o.alpn, rejectUnauthorized: false }, () => {
      const raw = socket.getPeerCertificate().raw;
      const certPem = `-----BEGIN CERTIFICATE-----\n${raw.toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`;
      const alpn = socket.alpnProtocol ?? false;
      socket.destroy();
      resolve({ alpn, certPem });
    });
    socket.on('error', reject);
  });
}
