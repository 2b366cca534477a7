/**
 * The key routes of README's API: PUT, GET and DELETE /v1/kv/{key}. Each request is validated at the
 * edge, then served here if this node leads the key's shard, else by the leader's node through a
 * call on the peer stream, else forwarded to the leader over HTTP (serve-or-forward.ts). Every answer about a well-formed key, errors included, carries the
 * X-Raft-* provenance of the node that gave it (provenance.ts).
 */

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { RaftKVNode } from '../../node/index.js';
import {
  badRequest,
  type Condition,
  type KeyCommand,
  type KVCommand,
  KVError,
  type KVFailureCode,
  type KVResult,
  keyProblem,
  type LeaseId,
  leaseIdText,
  leaseNotFound,
  notFound,
  parseLeaseId,
  preconditionFailed,
  type Session,
} from '../../node/index.js';
import { sessionClientPattern, sessionHeaders, sessionSeqPattern } from '../../protocol/index.js';
import { sendError } from '../errors.js';
import type { Forwarded, Forwarder } from '../forward.js';
import { hasProvenance, localProvenance, setProvenance } from '../provenance.js';
import { type ShardRequest, serveOrForward } from '../serve-or-forward.js';

export interface KVRouteDeps {
  readonly node: RaftKVNode;
  readonly forwarder: Forwarder;
  /** Counts a request served by the leader's node through a call. */
  readonly onRemote: () => void;
}

export function kvRoutes(app: FastifyInstance, deps: KVRouteDeps): void {
  const { node } = deps;
  /** The request as it goes to the shard's leader if this node does not lead the shard. */
  const shardRequest = (req: FastifyRequest, shard: number): ShardRequest => ({
    shard,
    method: req.method,
    url: req.url,
    headers: req.headers,
    body: Buffer.isBuffer(req.body) ? req.body : null,
  });
  /** The leader's answer as it came, its provenance included. */
  const relay =
    (reply: FastifyReply) =>
    (answer: Forwarded): FastifyReply =>
      reply.code(answer.status).headers(answer.headers).send(answer.body);

  /**
   * Proposes a put or delete on its key's shard leader (here, by a call, or forwarded) and answers
   * `done(result)` if it was applied, else the catalogue error of its failure.
   */
  const write = (
    req: FastifyRequest,
    reply: FastifyReply,
    cmd: KeyCommand,
    lease: LeaseId | null,
    done: (result: Extract<KVResult, { ok: true }>) => FastifyReply,
  ): Promise<FastifyReply> => {
    const shard = node.shardOf(cmd.key);
    return serveOrForward(
      deps,
      shardRequest(req, shard),
      async (on) => {
        const { result, at } = await on.propose(shard, cmd);
        setProvenance(reply, at);
        if (!result.ok) throw failure(result.code, cmd.key, lease);
        return done(result);
      },
      relay(reply),
      servedAnywhere,
    );
  };

  /**
   * An error this node answers about a well-formed key, whatever raised it (the overload guard,
   * the body limit, routing, the forwarder, the node), says where it came from: this node, with
   * what it knows of the key's shard. Errors raised after the serving step set provenance keep
   * that one; a caller without a valid token (401) learns nothing about the cluster.
   */
  const onError = async (req: FastifyRequest, reply: FastifyReply, err: Error): Promise<void> => {
    if (hasProvenance(reply) || (err instanceof KVError && err.code === 'unauthorized')) return;
    const key = (req.params as { '*'?: unknown })['*'];
    if (typeof key !== 'string' || keyProblem(key) !== null) return;
    setProvenance(reply, localProvenance(node, node.shardOf(key)));
  };

  app.put<{ Params: { '*': string }; Querystring: { lease?: string } }>(
    '/v1/kv/*',
    { onError },
    async (req, reply) => {
      const key = parseKey(req.params['*']);
      const value = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const lease = parseLeaseQuery(req.query.lease);
      const cmd: KVCommand = {
        op: 'put',
        key,
        value,
        cond: parseCondition(req),
        session: parseSession(req),
        ...(lease === null ? {} : { lease }),
      };
      return write(req, reply, cmd, lease, (result) => {
        const version = result.op === 'put' ? result.version : '';
        return reply.header('etag', `"${version}"`).send({ key, version });
      });
    },
  );

  app.delete<{ Params: { '*': string } }>('/v1/kv/*', { onError }, async (req, reply) => {
    const key = parseKey(req.params['*']);
    const cond = parseCondition(req);
    if (cond.ifNoneMatch) throw badRequest('If-None-Match is not supported on DELETE');
    const cmd: KVCommand = { op: 'delete', key, cond, session: parseSession(req) };
    return write(req, reply, cmd, null, () => reply.code(204).send());
  });

  app.get<{ Params: { '*': string }; Querystring: { consistency?: string } }>(
    '/v1/kv/*',
    { onError },
    async (req, reply) => {
      const key = parseKey(req.params['*']);
      const consistency = parseConsistency(req.query.consistency);
      const shard = node.shardOf(key);
      if (consistency === 'stale' && node.groups.has(shard)) {
        return sendRead(reply, key, await node.read(shard, key, 'stale'));
      }
      return serveOrForward(
        deps,
        shardRequest(req, shard),
        async (on) => sendRead(reply, key, await on.read(shard, key, consistency)),
        relay(reply),
        servedAnywhere,
      );
    },
  );
}

/** A key's write or read can be served by the leader's node through a call (node/remote.ts). */
const servedAnywhere = { remote: true } as const;

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
  const client = req.headers[sessionHeaders.client];
  const seq = req.headers[sessionHeaders.seq];
  if (client === undefined && seq === undefined) return null;
  // Seqs count from 1 (kv/commands.ts); a 0 would reach the command encoder and fail there as a 500.
  if (typeof client !== 'string' || typeof seq !== 'string' || !sessionSeqPattern.test(seq)) {
    throw badRequest('X-Raft-Client needs X-Raft-Seq, a positive integer');
  }
  if (!sessionClientPattern.test(client))
    throw badRequest('X-Raft-Client must be 1-128 letters, digits, _ . : -');
  return { client, seq: Number(seq) };
}

/** `?lease=ID` of a put: the lease to attach the key to, or null for none. */
function parseLeaseQuery(raw: string | undefined): LeaseId | null {
  if (raw === undefined) return null;
  const lease = parseLeaseId(raw);
  if (lease === null)
    throw badRequest('lease must be a lease id as POST /v1/leases gave it (1-12 hex digits)');
  return lease;
}

function failure(code: KVFailureCode, key: string, lease: LeaseId | null): KVError {
  switch (code) {
    case 'lease_not_found':
    case 'lease_exists':
      return leaseNotFound(lease === null ? '(none)' : leaseIdText(lease));
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
