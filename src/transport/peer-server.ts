/**
 * The peer port: a fastify app taking msgpack batches of Raft messages and snapshot chunks from
 * the other nodes of this cluster. A request without the right MAC of the cluster secret gets 401
 * before its body is decoded; malformed bodies get 400; a request from another cluster gets 403;
 * each refusal is logged once per source and reason, and nothing of any reaches Raft. Optionally
 * https, with client certificates required when a CA is given (mutual TLS). Built apart from
 * listen() so tests can inject().
 */

import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Logger } from 'pino';
import type { Message } from '../raft/types.js';
import { peerAuthHeader, peerMacValid } from './peer-auth.js';
import { peerServerLimits, peerTimeouts } from './peer-limits.js';
import { batchPath, claimPath, snapshotPath } from './peer-link.js';
import { acceptStreams, type CallHandler, type StreamAcceptorOptions } from './stream-acceptor.js';
import type { MessageSink } from './transport.js';
import {
  type ClaimAnswer,
  decodeBatch,
  decodeClaim,
  decodeSnapshotChunk,
  encodeClaimAnswer,
} from './wire.js';

export interface PeerServerOptions {
  readonly clusterId: string;
  readonly self: string;
  /** The cluster secret every request's MAC is keyed with (peer-auth.ts). */
  readonly secret: string;
  /** Serve https; with `ca`, peers must present a certificate it signed. */
  readonly tls?: PeerTls | undefined;
  /** Node ids allowed to send to us (asked anew for every request: the cluster's nodes change). */
  readonly peers: { has(id: string): boolean };
  readonly sink: MessageSink;
  /** Answers peers' calls that come on their streams; without it every call fails. */
  readonly calls?: CallHandler;
  /** Where answers go and come from besides the caller's stream (stream-acceptor.ts). */
  readonly answerOwnWay?: StreamAcceptorOptions['answerOwnWay'];
  readonly answers?: StreamAcceptorOptions['answers'];
  readonly notices?: StreamAcceptorOptions['notices'];
  readonly presence?: StreamAcceptorOptions['presence'];
  readonly soon?: StreamAcceptorOptions['soon'];
  /**
   * Answers a peer's claim of a new data directory's incarnation (node/identity.ts); null when
   * this node cannot tell yet (its groups are loading): the peer asks again.
   */
  readonly claims: (from: string, incarnation: string) => Promise<ClaimAnswer | null>;
  readonly log: Logger;
  readonly bodyBytesMax: number;
  readonly messagesMax: number;
  /** Largest snapshot we accept from a leader. */
  readonly snapshotBytesMax: number;
}

export interface PeerTls {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca?: Buffer | undefined;
}

interface Assembly {
  readonly index: number;
  readonly term: number;
  readonly parts: Uint8Array[];
  received: number;
}

export function buildPeerServer(o: PeerServerOptions): FastifyInstance {
  const app = Fastify({
    ...(o.tls === undefined ? {} : { https: { ...peerServerLimits, ...httpsOptions(o.tls) } }),
    http: peerServerLimits,
    ...peerTimeouts,
    loggerInstance: o.log.child({ port: 'peer' }) as FastifyBaseLogger,
    bodyLimit: o.bodyBytesMax,
    // Peers keep connections open; a stopping node drops them at once (Raft resends).
    forceCloseConnections: true,
    logController: new LogController({ disableRequestLogging: true }),
  });
  app.addContentTypeParser('application/msgpack', { parseAs: 'buffer' }, (_req, body, done) =>
    done(null, body),
  );
  const refusedOnce = new Set<string>();
  const refuse = (source: string, reason: string) => {
    if (refusedOnce.has(`${source}:${reason}`)) return;
    // Bounded: a flood of distinct reasons logs again after a while rather than grow the set.
    if (refusedOnce.size >= 1_024) refusedOnce.clear();
    refusedOnce.add(`${source}:${reason}`);
    o.log.warn({ source, reason }, 'refused peer request');
  };
  const checkSender = (cluster: string, from: string): string | null => {
    if (cluster !== o.clusterId) return `cluster id ${cluster} is not ${o.clusterId}`;
    if (!o.peers.has(from)) return `unknown sender ${from}`;
    return null;
  };

  // Peer streams come as an Upgrade, beside the routes; a closing server ends them first.
  const streams = acceptStreams(app.server, {
    clusterId: o.clusterId,
    secret: o.secret,
    peers: o.peers,
    sink: o.sink,
    calls: o.calls ?? (async () => Promise.reject(new Error('this node takes no calls'))),
    ...(o.answerOwnWay === undefined ? {} : { answerOwnWay: o.answerOwnWay }),
    ...(o.answers === undefined ? {} : { answers: o.answers }),
    ...(o.notices === undefined ? {} : { notices: o.notices }),
    presence: o.presence,
    soon: o.soon,
    frameBytesMax: o.bodyBytesMax,
    messagesMax: o.messagesMax,
    idleMs: peerTimeouts.connectionTimeout,
    refuse,
  });
  app.addHook('preClose', async () => streams.close());

  // Runs before any route handler looks at the body.
  app.addHook('preHandler', async (req, reply) => {
    const body = req.body instanceof Uint8Array ? req.body : new Uint8Array();
    const path = req.routeOptions.url ?? req.url;
    if (peerMacValid(o.secret, path, body, req.headers[peerAuthHeader])) return;
    refuse(req.ip, 'missing or wrong MAC: not signed with this cluster secret');
    return reply
      .code(401)
      .send({ error: 'not authenticated: the request is not signed with this cluster secret' });
  });

  app.post(batchPath, async (req, reply) => {
    if (!(req.body instanceof Uint8Array)) return reply.code(415).send();
    const decoded = decodeBatch(req.body, { messagesMax: o.messagesMax });
    if (!decoded.ok) {
      refuse(req.ip, decoded.reason);
      return reply.code(400).send({ error: decoded.reason });
    }
    const bad = checkSender(decoded.value.cluster, decoded.value.from);
    if (bad !== null) {
      refuse(req.ip, bad);
      return reply.code(403).send({ error: bad });
    }
    o.sink(decoded.value.from, decoded.value.msgs);
    return reply.code(204).send();
  });

  app.post(claimPath, async (req, reply) => {
    if (!(req.body instanceof Uint8Array)) return reply.code(415).send();
    const decoded = decodeClaim(req.body);
    if (!decoded.ok) {
      refuse(req.ip, decoded.reason);
      return reply.code(400).send({ error: decoded.reason });
    }
    const bad = checkSender(decoded.value.cluster, decoded.value.from);
    if (bad !== null) {
      refuse(req.ip, bad);
      return reply.code(403).send({ error: bad });
    }
    const answer = await o.claims(decoded.value.from, decoded.value.incarnation);
    if (answer === null) return reply.code(503).send({ error: 'starting; ask again' });
    if (answer === 'taken' || answer === 'rejoin')
      o.log.warn({ peer: decoded.value.from, answer }, 'a peer came back with a new data directory');
    return reply
      .code(200)
      .type('application/msgpack')
      .send(Buffer.from(encodeClaimAnswer(answer)));
  });

  // One snapshot assembly per (group, sender); a new snapshot from the same sender replaces it.
  const assemblies = new Map<string, Assembly>();
  app.post(snapshotPath, async (req, reply) => {
    if (!(req.body instanceof Uint8Array)) return reply.code(415).send();
    const decoded = decodeSnapshotChunk(req.body);
    if (!decoded.ok) {
      refuse(req.ip, decoded.reason);
      return reply.code(400).send({ error: decoded.reason });
    }
    const c = decoded.value;
    const bad =
      checkSender(c.cluster, c.from) ?? (c.total > o.snapshotBytesMax ? 'snapshot too large' : null);
    if (bad !== null) {
      refuse(req.ip, bad);
      return reply.code(bad === 'snapshot too large' ? 413 : 403).send({ error: bad });
    }
    const key = `${c.group}/${c.from}`;
    let a = assemblies.get(key);
    if (c.offset === 0) {
      a = { index: c.header.meta.index, term: c.header.meta.term, parts: [], received: 0 };
      assemblies.set(key, a);
    }
    if (
      a === undefined ||
      a.index !== c.header.meta.index ||
      a.term !== c.header.meta.term ||
      a.received !== c.offset
    ) {
      assemblies.delete(key);
      return reply.code(409).send({ error: 'snapshot chunk out of order' });
    }
    a.parts.push(c.chunk);
    a.received += c.chunk.byteLength;
    if (c.done) {
      assemblies.delete(key);
      if (a.received !== c.total) return reply.code(400).send({ error: 'snapshot shorter than announced' });
      const msg: Message = {
        ...c.header,
        type: 'snapshot',
        snapshot: { meta: c.header.meta, data: Buffer.concat(a.parts) },
      };
      o.sink(c.from, [{ group: c.group, msg }]);
    }
    return reply.code(204).send();
  });
  return app;
}

function httpsOptions(tls: PeerTls) {
  return tls.ca === undefined
    ? { cert: tls.cert, key: tls.key }
    : { cert: tls.cert, key: tls.key, ca: tls.ca, requestCert: true, rejectUnauthorized: true };
}
