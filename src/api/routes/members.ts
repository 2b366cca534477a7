/**
 * Group-level membership routes of README's API "Changing the cluster": add a replica of a shard
 * on a node (as a learner, or as a voter: learner, catch up, promote), promote a learner, remove
 * a replica. Each is served by the shard's leader (forwarded there like a key request) and
 * answers once the change is applied, with the shard's voters and learners. A fourth route is
 * what a leader calls on the node that is to receive a new replica, before it proposes it.
 */

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  badRequest,
  type ConfState,
  conflict,
  groupPath,
  membershipGroup,
  NotLeaderError,
  type RaftKVNode,
  unavailable,
} from '../../node/index.js';
import type { ClusterAuth } from '../cluster-auth.js';

import type { Forwarded, Forwarder } from '../forward.js';
import { jsonBody } from '../json-body.js';
import { type ShardRequest, serveOrForward } from '../serve-or-forward.js';

export interface MemberRouteDeps {
  readonly node: RaftKVNode;
  readonly forwarder: Forwarder;
  /** Signs the requests this node makes of the node that receives a new replica. */
  readonly auth: ClusterAuth;
}

type ShardParams = { shard: string };
type MemberParams = { shard: string; node: string };

const nodeIdPattern = /^[A-Za-z0-9_.:-]{1,64}$/;

export function memberRoutes(app: FastifyInstance, { node, forwarder, auth }: MemberRouteDeps): void {
  const deps = { node, forwarder };
  const relay =
    (reply: FastifyReply) =>
    (answer: Forwarded): FastifyReply =>
      reply.code(answer.status).headers(answer.headers).send(answer.body);
  const shardRequest = (req: FastifyRequest, shard: number): ShardRequest => ({
    shard,
    method: req.method,
    url: req.url,
    headers: req.headers,
    body: Buffer.isBuffer(req.body) ? req.body : null,
  });
  const shardOf = (raw: string): number => {
    // The membership group (node table) changes members the same way, for the rebalancer.
    if (raw === 'membership') return membershipGroup;
    const shard = /^[0-9]{1,9}$/.test(raw) ? Number(raw) : Number.NaN;
    if (!Number.isInteger(shard) || shard >= node.config.shards)
      throw badRequest(
        `shard ${JSON.stringify(raw)} does not exist (this cluster has shards 0..${node.config.shards - 1})`,
      );
    return shard;
  };
  const knownNode = (id: unknown): string => {
    if (typeof id !== 'string' || !nodeIdPattern.test(id)) throw badRequest('"node" must be a node id');
    if (node.apiOf(id) === null) throw badRequest(`node ${id} is not in this cluster`);
    return id;
  };
  /** A member to remove may be one the node table no longer has (removed by force while down). */
  const anyNodeId = (id: unknown): string => {
    if (typeof id !== 'string' || !nodeIdPattern.test(id)) throw badRequest('"node" must be a node id');
    return id;
  };
  const answer = (reply: FastifyReply, shard: number, conf: ConfState) =>
    reply.send({ shard, voters: conf.voters, learners: conf.learners });

  /** Creates the replica on `target` (its API), then proposes it as a learner. */
  const addLearner = async (req: FastifyRequest, shard: number, target: string): Promise<ConfState> => {
    const conf = node.members(shard);
    if (conf === null) throw new NotLeaderError(shard);
    if (conf.voters.includes(target) || conf.learners.includes(target)) return conf;
    const initial = { voters: conf.voters, learners: [...conf.learners, target] };
    const body = JSON.stringify({ ...initial, joinedAfter: node.lastIndex(shard) });
    const path = `/v1/admin/replicas/${groupPath(shard)}`;
    const created = await forwarder.forward(node.apiOf(target)!, {
      method: 'PUT',
      url: path,
      headers: {
        authorization: req.headers.authorization,
        ...auth.headers('PUT', path),
        'content-type': 'application/json',
      },
      body: Buffer.from(body),
      hops: 0,
    });
    if (created.status !== 204) {
      throw unavailable(
        `node ${target} could not create a replica of shard ${shard} (${created.status}: ${created.body.toString().slice(0, 200)}); nothing was changed`,
      );
    }
    let proposed = false;
    try {
      return await node.changeMembers(shard, { type: 'addLearner', node: target }, () => {
        proposed = true;
      });
    } catch (err) {
      // Refused before it was proposed: the empty replica just created would wait for a leader
      // for ever; best effort, it goes. Once proposed, the addition may still commit (under
      // this leader or the next), so the replica stays: a learner without it never catches up.
      if (!proposed) {
        const dropPath = `/v1/admin/replicas/${groupPath(shard)}`;
        await forwarder
          .forward(node.apiOf(target)!, {
            method: 'DELETE',
            url: dropPath,
            headers: { authorization: req.headers.authorization, ...auth.headers('DELETE', dropPath) },
            body: null,
            hops: 0,
          })
          .catch(() => undefined);
      }
      throw err;
    }
  };

  app.post<{ Params: ShardParams }>('/v1/admin/shards/:shard/members', async (req, reply) => {
    const shard = shardOf(req.params.shard);
    const body = jsonBody(req);
    const target = knownNode(body.node);
    const role = body.role ?? 'learner';
    if (role !== 'learner' && role !== 'voter') throw badRequest('"role" must be "learner" or "voter"');
    return serveOrForward(
      deps,
      shardRequest(req, shard),
      async () => {
        let conf = await addLearner(req, shard, target);
        if (role === 'voter' && !conf.voters.includes(target)) {
          await node.learnerCaughtUp(shard, target, node.config.requestTimeoutMs / 2);
          conf = await node.changeMembers(shard, { type: 'promote', node: target });
        }
        return answer(reply, shard, conf);
      },
      relay(reply),
    );
  });

  // The configuration as the group's leader has it, and whether it is committed.
  app.get<{ Params: ShardParams }>('/v1/admin/shards/:shard/members', async (req, reply) => {
    const shard = shardOf(req.params.shard);
    return serveOrForward(
      deps,
      shardRequest(req, shard),
      async () => {
        const s = node.groupStatus(shard);
        if (s === null || s.role !== 'leader') throw new NotLeaderError(shard);
        return reply.send({
          shard: groupPath(shard),
          voters: s.conf.voters,
          learners: s.conf.learners,
          confIndex: s.confIndex,
          committed: s.confIndex <= s.commit,
        });
      },
      relay(reply),
    );
  });

  app.post<{ Params: MemberParams }>('/v1/admin/shards/:shard/promote/:node', async (req, reply) => {
    const shard = shardOf(req.params.shard);
    const target = knownNode(req.params.node);
    return serveOrForward(
      deps,
      shardRequest(req, shard),
      async () => answer(reply, shard, await node.changeMembers(shard, { type: 'promote', node: target })),
      relay(reply),
    );
  });

  app.delete<{ Params: MemberParams }>('/v1/admin/shards/:shard/members/:node', async (req, reply) => {
    const shard = shardOf(req.params.shard);
    const target = anyNodeId(req.params.node);
    return serveOrForward(
      deps,
      shardRequest(req, shard),
      async () => {
        if (target === node.id && (node.members(shard)?.voters.length ?? 0) > 1) {
          // The leader's own replica: leadership moves first, then the new leader removes it.
          await node.handShardOver(shard, node.config.electionTicks * node.config.tickMs);
          if (node.route(shard).kind !== 'local') throw new NotLeaderError(shard);
        }
        return answer(reply, shard, await node.changeMembers(shard, { type: 'remove', node: target }));
      },
      relay(reply),
    );
  });

  app.delete<{ Params: ShardParams }>('/v1/admin/replicas/:shard', async (req, reply) => {
    const shard = shardOf(req.params.shard);
    if (await node.dropUnjoinedReplica(shard)) return reply.code(204).send();
    throw conflict(`node ${node.id} holds no replica of shard ${shard} that never joined`);
  });

  app.put<{ Params: ShardParams }>('/v1/admin/replicas/:shard', async (req, reply) => {
    const shard = shardOf(req.params.shard);
    const body = jsonBody(req);
    const ids = (x: unknown, what: string): string[] => {
      if (!Array.isArray(x) || !x.every((id) => typeof id === 'string' && nodeIdPattern.test(id)))
        throw badRequest(`"${what}" must be a list of node ids`);
      return x;
    };
    const joinedAfter = body.joinedAfter;
    if (!Number.isSafeInteger(joinedAfter) || (joinedAfter as number) < 0)
      throw badRequest('"joinedAfter" must be a log index');
    const initial = { voters: ids(body.voters, 'voters'), learners: ids(body.learners, 'learners') };
    await node.hostReplica(shard, initial, joinedAfter as number);
    return reply.code(204).send();
  });
}
