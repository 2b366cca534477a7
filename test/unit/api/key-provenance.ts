/**
 * Checking the X-Raft-* provenance of an answer about a key against what the answering node
 * says of itself in its status: the shard, its id, its term and applied index of that shard.
 */

import type { RaftKVNode } from '../../../src/node/index.js';

/** The provenance headers of an answer, as they came (strings, or undefined when absent). */
export function provenanceOf(r: { headers: Record<string, unknown> }): Record<string, unknown> {
  return {
    shard: r.headers['x-raft-shard'],
    node: r.headers['x-raft-node'],
    term: r.headers['x-raft-term'],
    index: r.headers['x-raft-index'],
  };
}

/** The provenance `node` gives right now for `shard`: its id, its term and applied index there. */
export function provenanceNow(node: RaftKVNode, shard: number): Record<string, string> {
  const g = node.status().groups.find((s) => s.shard === shard);
  if (g === undefined) throw new Error(`node ${node.id} has no replica of shard ${shard}`);
  return { shard: String(shard), node: node.id, term: String(g.term), index: String(g.applied) };
}

/** The first key `prefix0`, `prefix1`, … that the node's ring puts in `shard`. */
export function keyOfShard(node: RaftKVNode, shard: number, prefix: string): string {
  for (let i = 0; i < 100_000; i++) if (node.shardOf(`${prefix}${i}`) === shard) return `${prefix}${i}`;
  throw new Error(`no key with prefix ${prefix} in shard ${shard}`);
}
