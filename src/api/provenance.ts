/**
 * The X-Raft-* provenance of replies about a key (README's API): which shard, which node answered, and
 * the term and applied index it knew. A reply served from a state machine carries the provenance
 * the node returned with it; any other reply this node gives about a key (refused, timed out,
 * failed to forward) carries this node's own knowledge of the shard at the moment it answers.
 * A relayed reply keeps the provenance of the node that served it.
 */

import type { FastifyReply } from 'fastify';
import type { RaftKVNode } from '../node/index.js';
import { type Provenance, provenanceHeaders, provenanceHeadersOf } from '../protocol/index.js';

/** Sets the provenance headers of `reply` to `at`. */
export function setProvenance(reply: FastifyReply, at: Provenance): void {
  reply.headers(provenanceHeadersOf(at));
}

/** True once `reply` carries provenance (set by the serving step or relayed from the leader). */
export function hasProvenance(reply: FastifyReply): boolean {
  return reply.hasHeader(provenanceHeaders.shard);
}

/**
 * What this node knows of `shard` now: the term of its replica and the index it has applied.
 * A node without a replica of the shard knows neither: term 0 and index 0 (nothing applied).
 */
export function localProvenance(node: RaftKVNode, shard: number): Provenance {
  const g = node.groups.get(shard);
  if (g === undefined) return { shard, node: node.id, term: 0, index: 0 };
  return { shard, node: node.id, term: g.raft.status().term, index: g.applied };
}
