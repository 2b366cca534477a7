/**
 * Node-level membership routes of README's API "Changing the cluster": add a node (what
 * `serve --join` asks), drain and remove one (or `?force=true` for one that is down for good),
 * list them. Each is served by the leader of the membership group (forwarded there like a key
 * request), which owns the node table; the rebalancer on that same node then moves replicas.
 */

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  badRequest,
  conflict,
  groupLabel,
  groupName,
  isMember,
  KVError,
  membershipGroup,
  type NodeRecord,
  type RaftKVNode,
  unavailable,
} from '../../node/index.js';
import type { Forwarded, Forwarder } from '../forward.js';
import { jsonBody } from '../json-body.js';
import type { Rebalancer } from '../rebalancer.js';
import { serveOrForward } from '../serve-or-forward.js';

export interface NodeRouteDeps {
  readonly node: RaftKVNode;
  readonly forwarder: Forwarder;
  /** The cluster's rebalancer on this node: who is up, and what it did lately. */
  readonly rebalancer: Rebalancer | null;
}

const nodeIdPattern = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** What a joining node is told: the cluster's settings (no secrets) and its nodes. */
export function joinAnswer(node: RaftKVNode, added: NodeRecord) {
  const { security: _security, nodes: _nodes, ...settings } = node.config;
  const table = node.membership();
  return {
    node: added,
    epoch: table.epoch,
    cluster: { ...settings, nodes: table.nodes.map(({ id, api, peer }) => ({ id, api, peer })) },
    tokens: node.config.security.tokensFile !== undefined,
  };
}

export function nodeRoutes(app: FastifyInstance, { node, forwarder, rebalancer }: NodeRouteDeps): void {
  const relay =
    (reply: FastifyReply) =>
    (answer: Forwarded): FastifyReply =>
      reply.code(answer.status).headers(answer.headers).send(answer.body);
  const onLeader = <T>(req: FastifyRequest, reply: FastifyReply, serve: () => Promise<T>) =>
    serveOrForward(
      { node, forwarder },
      {
        shard: membershipGroup,
        method: req.method,
        url: req.url,
        headers: req.headers,
        body: Buffer.isBuffer(req.body) ? req.body : null,
      },
      async () => {
        if (node.membership().epoch === 0)
          throw unavailable('the cluster has not written its node table yet');
        return serve();
      },
      relay(reply) as (a: Forwarded) => T,
    );

  app.get('/v1/admin/nodes', async (req, reply) =>
    onLeader(req, reply, async () => reply.send(nodeList(node, rebalancer))),
  );

  app.post('/v1/admin/nodes', async (req, reply) => {
    const body = jsonBody(req);
    const id = body.id;
    if (typeof id !== 'string' || !nodeIdPattern.test(id))
      throw badRequest('"id" must be 1-64 letters, digits, ".", "_" or "-"');
    const api = url(body.api, 'api');
    const peer = url(body.peer, 'peer');
    const incarnation = typeof body.incarnation === 'string' ? body.incarnation : '';
    if (body.clusterId !== undefined && body.clusterId !== node.config.clusterId)
      throw badRequest(
        `node ${id} belongs to cluster ${String(body.clusterId)}, not ${node.config.clusterId}`,
      );
    const scheme = (u: string) => new URL(u).protocol;
    const ours = node.nodes()[0];
    if (ours !== undefined && (scheme(api) !== scheme(ours.api) || scheme(peer) !== scheme(ours.peer)))
      throw badRequest(
        `node ${id} must use ${scheme(ours.api)} and ${scheme(ours.peer)} URLs like the other nodes`,
      );
    return onLeader(req, reply, async () => {
      const old = node.membership().nodes.find((n) => n.id === id);
      // A taken id is refused before the new address is even tried.
      if (
        old !== undefined &&
        (old.api !== api || old.peer !== peer || (old.incarnation ?? '') !== incarnation)
      )
        throw conflict(
          `node id ${id} is taken by a member (api ${old.api}); if that node is gone for good, remove it with node remove ${id} --force first`,
        );
      if (old === undefined) {
        // A removed node's slots in its groups are re-created elsewhere before its id may come
        // back: a new node under that id would otherwise stand for replicas it does not have.
        const still = groupsListing(node, id);
        if (still.length > 0)
          throw unavailable(
            `node ${id} was removed, and its old replicas in ${still.join(', ')} are still being replaced; it can join once they are (nothing was changed)`,
          );
        await probe(forwarder, id, api);
      }
      const res = await node.proposeMembership({ op: 'addNode', node: { id, api, peer, incarnation } });
      if (!res.ok) throw conflict(res.reason);
      const added = node.membership().nodes.find((n) => n.id === id)!;
      return reply.send(joinAnswer(node, added));
    });
  });

  app.delete<{ Params: { id: string }; Querystring: { force?: string } }>(
    '/v1/admin/nodes/:id',
    async (req, reply) => {
      const { id } = req.params;
      const force = req.query.force === 'true' || req.query.force === '1';
      return onLeader(req, reply, async () => {
        const table = node.membership();
        const target = table.nodes.find((n) => n.id === id);
        if (target === undefined)
          throw new KVError('not_found', 404, `node ${id} is not a member of this cluster`);
        const leaving = table.nodes.find((n) => n.state === 'leaving' && n.id !== id);
        if (leaving !== undefined)
          throw conflict(`node ${leaving.id} is being removed; one removal at a time, nothing was changed`);
        const up = (x: string) => (x === node.id ? true : rebalancer?.isUp(x) === true);
        if (force) {
          if (up(id)) throw badRequest(`node ${id} is up: drain it without --force, or stop it first`);
          for (const [shard, p] of table.shards.entries()) {
            if (!p.voters.includes(id)) continue;
            const rest = p.voters.filter((v) => v !== id);
            const upRest = rest.filter(up).length;
            if (rest.length === 0 || upRest < Math.floor(rest.length / 2) + 1)
              throw badRequest(
                `removing node ${id} would leave shard ${shard} with ${upRest} of ${rest.length} voters up, not a majority; nothing was changed`,
              );
          }
          const res = await node.proposeMembership({ op: 'removeNode', id });
          if (!res.ok) throw conflict(res.reason);
          return reply.send({ node: id, state: 'removed', epoch: res.epoch });
        }
        const others = table.nodes.filter((n) => n.id !== id && n.state === 'active' && up(n.id)).length;
        if (others < node.config.replicas)
          throw badRequest(
            `draining node ${id} would leave ${others} node(s) up for shards of ${node.config.replicas} replicas; add a node first`,
          );
        const res = await node.proposeMembership({ op: 'setState', id, state: 'leaving' });
        if (!res.ok) throw conflict(res.reason);
        return reply.code(202).send({ node: id, state: 'leaving', epoch: res.epoch });
      });
    },
  );
}

/** The node table with each node's replica and preferred-leader counts and whether it is up. */
export function nodeList(node: RaftKVNode, rebalancer: Rebalancer | null) {
  const table = node.membership();
  return {
    epoch: table.epoch,
    nodes: table.nodes.map((n) => ({
      id: n.id,
      api: n.api,
      peer: n.peer,
      state: n.state,
      up: n.id === node.id ? true : (rebalancer?.isUp(n.id) ?? null),
      replicas: table.shards.filter((p) => isMember(p, n.id)).length,
      leaders: table.shards.filter((p) => p.leader === n.id).length,
    })),
    moving: [...(rebalancer?.busy() ?? [])].map(groupLabel),
    settled: rebalancer?.settled() ?? null,
    events: rebalancer?.events().slice(-50) ?? [],
  };
}

/** The groups whose placement (as the table has it) or configuration still lists `id`, by name. */
function groupsListing(node: RaftKVNode, id: string): string[] {
  const shards = node
    .membership()
    .shards.flatMap((placement, shard) => (isMember(placement, id) ? [groupName(shard)] : []));
  const membership = node.membershipConf();
  return membership !== null && isMember(membership, id) ? [...shards, groupName(membershipGroup)] : shards;
}

/** The joining node's API must answer /healthz as that node: a wrong or unreachable URL is refused. */
async function probe(forwarder: Forwarder, id: string, api: string): Promise<void> {
  let answered: unknown;
  try {
    const res = await forwarder.forward(api, {
      method: 'GET',
      url: '/healthz',
      headers: {},
      body: null,
      hops: 0,
    });
    answered = JSON.parse(res.body.toString('utf8'));
  } catch (err) {
    // The forwarder's message speaks of a shard leader; only its reason (the system's code) applies here.
    const reason = /\(([^()]+)\)[^()]*$/.exec((err as Error).message)?.[1] ?? 'no answer';
    throw badRequest(`node ${id}'s api URL ${api} does not answer (${reason}); nothing was changed`);
  }
  const said = (answered as { id?: unknown } | null)?.id;
  if (said !== id)
    throw badRequest(`the api URL ${api} answers as node ${String(said)}, not ${id}; nothing was changed`);
}

function url(x: unknown, what: string): string {
  if (
    typeof x !== 'string' ||
    !URL.canParse(x) ||
    !/^https?:$/.test(new URL(x).protocol) ||
    new URL(x).port === ''
  )
    throw badRequest(`"${what}" must be an http(s) URL with an explicit port`);
  return x;
}
