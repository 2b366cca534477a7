/**
 * Node-level routes of README's API: /v1/status, /v1/cluster, /healthz, /readyz, /metrics.
 */

import type { FastifyInstance } from 'fastify';
import type { RaftKVNode } from '../../node/index.js';
import type { ApiMetrics } from '../metrics.js';

export function adminRoutes(
  app: FastifyInstance,
  { node, metrics }: { node: RaftKVNode; metrics: ApiMetrics },
): void {
  app.get('/v1/status', async () => node.status());

  app.get('/v1/cluster', async () => {
    const local = new Map(node.status().groups.map((g) => [g.shard, g]));
    const table = node.membership();
    return {
      clusterId: node.config.clusterId,
      epoch: table.epoch,
      nodes: node.nodes().map(({ id, api, peer, state }) => ({ id, api, peer, state })),
      // A shard this node holds a replica of: its configuration as that replica knows it (and, on
      // its leader, each learner's lag); any other: as the node table places it, else as this
      // node's removed replica last knew it, else the cluster file's placement.
      shards: node.placement.map((placed, shard) => {
        const g = local.get(shard);
        const departed = node.departedShard(shard);
        const tabled = table.shards[shard];
        const voters = g?.conf.voters ?? tabled?.voters ?? departed?.conf.voters ?? placed;
        const learners = (g?.conf.learners ?? tabled?.learners ?? departed?.conf.learners ?? []).map(
          (id) => ({
            id,
            lag: g?.followers.find((f) => f.id === id)?.lag ?? null,
          }),
        );
        return {
          shard,
          members: [...voters, ...learners.map((l) => l.id)],
          voters,
          learners,
          leader: g?.leader ?? tabled?.leader ?? departed?.leader ?? null,
          term: g?.term ?? null,
        };
      }),
      ring: node.ring.spec,
    };
  });

  app.get('/healthz', async () => ({ ok: true, id: node.id }));

  app.get('/readyz', async (_req, reply) => {
    const ready = node.ready();
    return reply.code(ready ? 200 : 503).send({ ready, id: node.id });
  });

  app.get('/metrics', async (_req, reply) => {
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
}
