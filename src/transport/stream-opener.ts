/**
 * The opening end of a peer stream (peer-stream.ts): an HTTP/1.1 Upgrade request to the peer's
 * port with this node's proof, and a check of the peer's proof in its 101 answer. Resolves with
 * the connection's frames, or with why there is none: the peer refused (its HTTP status, e.g.
 * 404 from a node that has no streams) or could not be reached.
 */

import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Duplex } from 'node:stream';
import { peerAuthHeader } from './peer-auth.js';
import {
  acceptorProof,
  newNonce,
  nonceValid,
  openerProof,
  proofValid,
  sessionKey,
  streamHeaders,
  streamPath,
  streamProtocol,
} from './peer-stream.js';

export interface OpenStreamOptions {
  readonly url: string;
  readonly clusterId: string;
  readonly self: string;
  readonly secret: string;
  readonly timeoutMs: number;
  readonly tls?:
    | { readonly ca?: Buffer | undefined; readonly cert: Buffer; readonly key: Buffer }
    | undefined;
}

export type Opened =
  | { readonly kind: 'open'; readonly socket: Duplex; readonly head: Buffer; readonly key: Buffer }
  | { readonly kind: 'refused'; readonly status: number }
  | { readonly kind: 'unreachable'; readonly reason: string };

export function openStream(o: OpenStreamOptions): Promise<Opened> {
  const nonce = newNonce();
  const url = new URL(o.url);
  const https = url.protocol === 'https:';
  const req = (https ? httpsRequest : httpRequest)({
    host: url.hostname,
    port: url.port,
    path: streamPath,
    method: 'GET',
    agent: false,
    headers: {
      connection: 'Upgrade',
      upgrade: streamProtocol,
      [streamHeaders.cluster]: o.clusterId,
      [streamHeaders.from]: o.self,
      [streamHeaders.nonce]: nonce,
      [peerAuthHeader]: openerProof(o.secret, o.clusterId, o.self, nonce),
    },
    ...(https && o.tls !== undefined ? { ca: o.tls.ca, cert: o.tls.cert, key: o.tls.key } : {}),
  });
  return new Promise<Opened>((resolve) => {
    let settled = false;
    const settle = (r: Opened) => {
      if (settled) {
        if (r.kind === 'open') r.socket.destroy();
        return;
      }
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    const timer = setTimeout(() => {
      settle({ kind: 'unreachable', reason: `no answer within ${o.timeoutMs} ms` });
      req.destroy();
    }, o.timeoutMs);
    req.on('error', (err: NodeJS.ErrnoException) =>
      settle({ kind: 'unreachable', reason: err.code ?? err.message }),
    );
    req.on('response', (res) => {
      res.resume();
      settle({ kind: 'refused', status: res.statusCode ?? 0 });
    });
    req.on('upgrade', (res, socket, head) => {
      const theirs = res.headers[streamHeaders.nonce];
      if (
        !nonceValid(theirs) ||
        !proofValid(acceptorProof(o.secret, nonce, theirs), res.headers[peerAuthHeader])
      ) {
        socket.destroy();
        settle({ kind: 'refused', status: 401 });
        return;
      }
      settle({ kind: 'open', socket, head, key: sessionKey(o.secret, nonce, theirs) });
    });
    req.end();
  });
}
