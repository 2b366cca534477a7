/**
 * README's API: a 503 or 504 about a key says where it came from too. Nodes of an in-memory cluster
 * (no sockets), each answered through its own API app with inject: a node that knows no leader
 * for the key's shard refuses with 503 and a leader cut off from its followers answers 504 when
 * its write cannot commit in time; both give the key's shard, their own id, and the term and
 * applied index their status shows for that shard.
 */

import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { buildApi } from '../../../src/api/build-api.js';
import type { RaftKVNode } from '../../../src/node/index.js';
import { InMemoryCluster } from '../node/in-memory-cluster.js';
import { keyOfShard, provenanceNow, provenanceOf } from './key-provenance.js';

/** Resolves once the node has applied every entry of the shard's log; throws after `timeoutMs`. */
async function settledApplied(node: RaftKVNode, shard: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const g = node.status().groups.find((s) => s.shard === shard);
    if (g !== undefined && g.applied === g.lastIndex && g.commit === g.lastIndex) return;
    if (Date.now() > deadline) throw new Error(`node ${node.id} did not apply all of shard ${shard} in time`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const apiOf = (node: RaftKVNode): FastifyInstance => buildApi({ node, log: pino({ level: 'silent' }) });

describe('provenance of 503 and 504 answers', () => {
  let cluster: InMemoryCluster | null = null;
  let app: FastifyInstance | null = null;

  afterEach(async () => {
    cluster?.isolated.clear();
    await app?.close();
    await cluster?.stopAll();
  });

  it('503 from a node that knows no leader of the shard: its own term and applied index', async () => {
    cluster = new InMemoryCluster(['n1', 'n2', 'n3'], 3);
    // Alone, n1 can elect no one: it never learns a leader.
    const node = await cluster.start('n1');
    app = apiOf(node);
    const key = keyOfShard(node, 2, 'prov/no-leader/');
    const r = await app.inject({ method: 'PUT', url: `/v1/kv/${key}`, payload: 'v' });
    expect(r.statusCode).toBe(503);
    expect(r.json()).toEqual({ error: { code: 'unavailable', message: 'no leader known for shard 2' } });
    expect(r.headers['retry-after']).toBe('1');
    expect(provenanceOf(r)).toEqual(provenanceNow(node, 2));
  });

  it('504 from a leader whose write cannot commit in time: its term, the applied index from before the write', async () => {
    // An election timeout of 1-2 s: check-quorum does not depose the leader before the 300 ms wait ends.
    cluster = new InMemoryCluster(['n1', 'n2', 'n3'], 3, { requestTimeoutMs: 300, electionTicks: 100 });
    await cluster.startAll();
    const leader = await cluster.settledLeaderOf(1);
    app = apiOf(leader);
    const key = keyOfShard(leader, 1, 'prov/timeout/');
    // The leader's entry of its own term must be applied before the cut, or it could commit on an
    // acknowledgement already in flight and move the applied index under the test.
    await settledApplied(leader, 1, 5_000);
    const before = provenanceNow(leader, 1);
    for (const id of cluster.nodes.keys()) if (id !== leader.id) cluster.isolated.add(id);
    const r = await app.inject({ method: 'PUT', url: `/v1/kv/${key}`, payload: 'v' });
    expect(r.json()).toEqual({
      error: {
        code: 'timeout',
        message: 'proposed, but not applied in time; the write may or may not take effect',
      },
    });
    expect(r.statusCode).toBe(504);
    expect(provenanceOf(r)).toEqual(provenanceNow(leader, 1));
    // Nothing committed while the followers were cut off: the answer reflects the state before it.
    expect(provenanceOf(r)).toEqual(before);
  });
});
