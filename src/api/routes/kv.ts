/**
 * The key routes of API.md: PUT, GET and DELETE /v1/kv/{key}. Each request is validated at the
 * edge, then served here if this node leads the key's shard, or forwarded to the leader.
 */

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Provenance, RaftKVNode } from '../../node/index.js';
import {
  badRequest,
  type Condition,
  type KVCommand,
  type KVError,
  keyProblem,
  NotLeaderError,
  notFound,
  preconditionFailed,
  type Session,
  unavailable,
} from '../../node/index.js';
import { sendError } from '../errors.js';
import { type Forwarder, hopsHeader, hopsMax } from '../forward.js';

export interface KVRouteDeps {
  readonly node: RaftKVNode;
  readonly forwarder: Forwarder;
}

export function kvRoutes(app: FastifyInstance, { node, forwarder }: KVRouteDeps): void {
  /**
   * Serves the request here when this node leads the shard, else relays the leader's answer. If
   * leadership moves away before anything was proposed, the request is routed once more.
   */
  const serveOrForward = async (
    req: FastifyRequest,
    reply: FastifyReply,
    shard: number,
    serve: () => Promise<FastifyReply>,
  ): Promise<FastifyReply> => {
    for (let attempt = 0; ; attempt++) {
      const route = node.route(shard);
      if (route.kind === 'local') {
        try {
          return await serve();
        } catch (err) {
          if (!(err instanceof NotLeaderError)) throw err;
          if (attempt > 0) throw unavailable(`leadership of shard ${shard} is moving; nothing was done`);
          continue;
        }
      }
      if (route.kind === 'unknown' && attempt === 0) {
        // Between an election and the new leader's first message: wait for it (bounded).
        await node.awaitLeader(shard, node.leaderWaitMs);
        continue;
      }
      const hops = Number(req.headers[hopsHeader] ?? 0);
      if (route.kind === 'unknown' || hops >= hopsMax)
        throw unavailable(`no leader known for shard ${shard}`);
      const res = await forwarder.forward(route.api, {
        method: req.method,
        url: req.url,
        headers: req.headers,
        body: Buffer.isBuffer(req.body) ? req.body : null,
        hops,
      });
      return reply.code(res.status).headers(res.headers).send(res.body);
    }
  };

  app.put<{ Params: { '*': string } }>('/v1/kv/*', async (req, reply) => {
    const key = parseKey(req.params['*']);
    const value = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const cmd: KVCommand = { op: 'put', key, value, cond: parseCondition(req), session: parseSession(req) };
    return serveOrForward(req, reply, node.shardOf(key), async () => {
      const { result, at } = await node.propose(node.shardOf(key), cmd);
      if (!result.ok) throw failure(result.code, key);
      setProvenance(reply, at);
      const version = result.op === 'put' ? result.version : '';
      return reply.header('etag', `"${version}"`).send({ key, version });
    });
  });

  app.delete<{ Params: { '*': string } }>('/v1/kv/*', async (req, reply) => {
    const key = parseKey(req.params['*']);
    const cond = parseCondition(req);
    if (cond.ifNoneMatch) throw badRequest('If-None-Match is not supported on DELETE');
    const cmd: KVCommand = { op: 'delete', key, cond, session: parseSession(req) };
    const shard = node.shardOf(key);
    return serveOrForward(req, reply, shard, async () => {
      const { result, at } = await node.propose(shard, cmd);
      if (!result.ok) throw failure(result.code, key);
      setProvenance(reply, at);
      return reply.code(204).send();
    });
  });

  app.get<{ Params: { '*': string }; Querystring: { consistency?: string } }>(
    '/v1/kv/*',
    async (req, reply) => {
      const key = parseKey(req.params['*']);
      const consistency = parseConsistency(req.query.consistency);
      const shard = node.shardOf(key);
      if (consistency === 'stale' && node.groups.has(shard)) {
        return sendRead(reply, key, await node.read(shard, key, 'stale'));
      }
      return serveOrForward(req, reply, shard, async () =>
        sendRead(reply, key, await node.read(shard, key, consistency)),
      );
    },
  );
}

function sendRead(
  reply: FastifyReply,
  key: string,
  { entry, at }: Awaited<ReturnType<RaftKVNode['read']>>,
): FastifyReply {
  setProvenance(reply, at);
  if (entry === null) return sendError(reply, notFound(key));
  return reply
    .header('etag', `"${entry.version}"`)
    .type('application/octet-stream')
    .send(Buffer.from(entry.value));
}

export function setProvenance(reply: FastifyReply, at: Provenance): void {
  reply.headers({
    'x-raft-shard': String(at.shard),
    'x-raft-node': at.node,
    'x-raft-term': String(at.term),
    'x-raft-index': String(at.index),
  });
}

function parseKey(raw: string): string {
  const problem = keyProblem(raw);
  if (problem !== null) throw badRequest(problem);
  return raw;
}

export function parseConsistency(raw: string | undefined): 'linearizable' | 'stale' {
  if (raw === undefined || raw === 'linearizable') return 'linearizable';
  if (raw === 'stale') return 'stale';
  throw badRequest('consistency must be "linearizable" or "stale"');
}

/** If-Match: one quoted version; If-None-Match: only `*`. */
function parseCondition(req: FastifyRequest): Condition {
  const ifMatch = req.headers['if-match'];
  const ifNoneMatch = req.headers['if-none-match'];
  if (ifMatch !== undefined && ifNoneMatch !== undefined)
    throw badRequest('use either If-Match or If-None-Match');
  if (ifNoneMatch !== undefined && ifNoneMatch !== '*') throw badRequest('If-None-Match must be *');
  let version: string | null = null;
  if (ifMatch !== undefined) {
    const m = /^"([^"]{1,64})"$/.exec(ifMatch.trim());
    if (m === null) throw badRequest('If-Match must be one quoted version, e.g. "42"');
    version = m[1]!;
  }
  return { ifMatch: version, ifNoneMatch: ifNoneMatch === '*' };
}

/** The exactly-once session of a retried write: X-Raft-Client and X-Raft-Seq, both or neither. */
function parseSession(req: FastifyRequest): Session | null {
  const client = req.headers['x-raft-client'];
  const seq = req.headers['x-raft-seq'];
  if (client === undefined && seq === undefined) return null;
  // Seqs count from 1 (kv/commands.ts); a 0 would reach the command encoder and fail there as a 500.
  if (typeof client !== 'string' || typeof seq !== 'string' || !/^[1-9][0-9]{0,14}$/.test(seq)) {
    throw badRequest('X-Raft-Client needs X-Raft-Seq, a positive integer');
  }
  if (!/^[A-Za-z0-9_.:-]{1,128}$/.test(client))
    throw badRequest('X-Raft-Client must be 1-128 letters, digits, _ . : -');
  return { client, seq: Number(seq) };
}

function failure(code: 'precondition_failed' | 'not_found' | 'session_expired', key: string): KVError {
  switch (code) {
    case 'precondition_failed':
      return preconditionFailed(
        `the condition on key ${JSON.stringify(key)} did not hold; nothing was written`,
      );
    case 'not_found':
      return notFound(key);
    case 'session_expired':
      return badRequest(
        'the session table does not remember this client and sequence number; nothing was applied (start a new client id at sequence 1)',
      );
  }
}
