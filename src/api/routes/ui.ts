/**
 * The live cluster view: GET /ui (the dashboard page, self-contained) and GET /v1/ui/state (the
 * ClusterView it polls once a second). The serving node asks every node of the node table for
 * /v1/status with a short timeout (a node that does not answer is shown down), and the
 * membership leader for the table's view: each node's state, replica and leader counts, and the
 * rebalancer's recent joins, moves and removals.
 */

import type { FastifyInstance } from 'fastify';
import { Agent, request } from 'undici';
import { membershipGroup, type NodeStatus, type RaftKVNode } from '../../node/index.js';
import { buildClusterView, type NodeAnswer } from '../cluster-view.js';
import type { OutboundTls } from '../forward.js';
import type { Rebalancer } from '../rebalancer.js';
import { dashboardHtml } from '../ui-page.js';
import { nodeList } from './nodes.js';

/** How long the view waits for one peer's status before showing it down. */
export const peerStatusTimeoutMs = 800;

export function uiRoutes(
  app: FastifyInstance,
  {
    node,
    outboundTls,
    rebalancer = null,
  }: { node: RaftKVNode; outboundTls?: OutboundTls | undefined; rebalancer?: Rebalancer | null },
): void {
  const agent = new Agent({ connections: 4, keepAliveTimeout: 10_000, connect: { ...outboundTls } });
  app.addHook('onClose', async () => agent.destroy());

  /**
   * GET `path` from a peer's API within `peerStatusTimeoutMs`, with `authorization` (the viewer's
   * own credential, shown to the other nodes in turn): its JSON body, or why there is none.
   */
  const getJson = async (
    api: string,
    path: string,
    authorization?: string,
  ): Promise<{ ok: true; body: unknown } | { ok: false; error: string }> => {
    try {
      const res = await request(new URL(path, api), {
        dispatcher: agent,
        headers: authorization === undefined ? {} : { authorization },
        headersTimeout: peerStatusTimeoutMs,
        bodyTimeout: peerStatusTimeoutMs,
        signal: AbortSignal.timeout(peerStatusTimeoutMs),
      });
      if (res.statusCode !== 200) {
        await res.body.dump();
        return { ok: false, error: `status ${res.statusCode}` };
      }
      return { ok: true, body: await res.body.json() };
    } catch (err) {
      const e = err as { code?: string; name?: string; message?: string };
      const why = e.name === 'TimeoutError' ? 'no answer in time' : (e.code ?? e.message ?? 'error');
      return { ok: false, error: why };
    }
  };

  /** One node's status (this node's own without a request), or why it could not be had. */
  const ask = async (peer: { id: string; api: string }, authorization?: string): Promise<NodeAnswer> => {
    if (peer.id === node.id) return { ...peer, status: node.status() };
    const got = await getJson(peer.api, '/v1/status', authorization);
    return got.ok ? { ...peer, status: got.body as NodeStatus } : { ...peer, error: got.error };
  };

  /** The node list of the membership leader (GET /v1/admin/nodes), or null when it cannot be had. */
  const membership = async (authorization?: string): Promise<unknown> => {
    if (node.leadsMembership()) return nodeList(node, rebalancer);
    const route = node.route(membershipGroup);
    if (route.kind !== 'remote') return null;
    const got = await getJson(route.api, '/v1/admin/nodes', authorization);
    return got.ok ? got.body : null;
  };

  app.get('/v1/ui/state', async (req, reply) => {
    const [answers, table] = await Promise.all([
      Promise.all(node.nodes().map((n) => ask({ id: n.id, api: n.api }, req.headers.authorization))),
      membership(req.headers.authorization),
    ]);
    reply.header('cache-control', 'no-store');
    const view = buildClusterView({
      clusterId: node.config.clusterId,
      servedBy: node.id,
      atMs: Date.now(),
      placement: node.placement,
      answers,
    });
    return { ...view, membership: table };
  });

  app.get('/ui', async (_req, reply) =>
    reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(dashboardHtml),
  );
}
