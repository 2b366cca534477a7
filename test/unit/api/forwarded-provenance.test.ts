/**
 * README's API: a request forwarded to the shard's leader carries the leader's provenance, errors
 * included; a node that fails to reach the leader answers with its own. Three in-memory nodes,
 * each API app listening on the loopback URL the cluster file gives it, so followers forward
 * over real HTTP.
 */

import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApi } from '../../../src/api/build-api.js';
import type { RaftKVNode } from '../../../src/node/index.js';
import { InMemoryCluster } from '../node/in-memory-cluster.js';
import { keyOfShard, provenanceNow, provenanceOf } from './key-provenance.js';

const shard = 0;

describe('provenance of forwarded answers', () => {
  const cluster = new InMemoryCluster(['n1', 'n2', 'n3'], 3);
  const apps = new Map<string, FastifyInstance>();
  let leader: RaftKVNode;
  let follower: RaftKVNode;

  /** A request to `via`'s API over HTTP. */
  const send = async (via: RaftKVNode, method: string, key: string, headers: Record<string, string> = {}) => {
    const url = cluster.config.nodes.find((n) => n.id === via.id)!.api;
    const res = await fetch(`${url}/v1/kv/${encodeURIComponent(key)}`, {
      method,
      headers,
      ...(method === 'PUT' ? { body: 'value' } : {}),
    });
    return { status: res.status, headers: Object.fromEntries(res.headers), body: await res.text() };
  };

  /** Waits until `node` has applied all that `leader` has, so that nothing moves under a check. */
  const caughtUp = async (node: RaftKVNode): Promise<void> => {
    const deadline = Date.now() + 5_000;
    while (provenanceNow(node, shard).index !== provenanceNow(leader, shard).index) {
      if (Date.now() > deadline) throw new Error(`${node.id} did not catch up with ${leader.id}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };

  beforeAll(async () => {
    await cluster.startAll();
    for (const { id, api } of cluster.config.nodes) {
      const app = buildApi({ node: cluster.nodes.get(id)!, log: pino({ level: 'silent' }) });
      await app.listen({ host: '127.0.0.1', port: Number(new URL(api).port) });
      apps.set(id, app);
    }
    leader = await cluster.settledLeaderOf(shard);
    follower = [...cluster.nodes.values()].find((n) => n.id !== leader.id)!;
  });

  afterAll(async () => {
    await Promise.all([...apps.values()].map((a) => a.close()));
    await cluster.stopAll();
  });

  it('a 412 and a 404 relayed by a follower name the leader, its term and its applied index', async () => {
    const key = keyOfShard(leader, shard, 'prov/forwarded/');
    const put = await send(follower, 'PUT', key);
    expect(put.status).toBe(200);
    expect(provenanceOf(put)).toEqual(provenanceNow(leader, shard));

    const refused = await send(follower, 'PUT', key, { 'if-none-match': '*' });
    expect(refused.status).toBe(412);
    expect(provenanceOf(refused)).toEqual(provenanceNow(leader, shard));

    const absent = keyOfShard(leader, shard, 'prov/forwarded-absent/');
    const gone = await send(follower, 'DELETE', absent);
    expect(gone.status).toBe(404);
    expect(provenanceOf(gone)).toEqual(provenanceNow(leader, shard));
  });

  it('a 503 from a follower that cannot reach the leader names the follower and what it knows', async () => {
    await caughtUp(follower);
    await apps.get(leader.id)!.close();
    const r = await send(follower, 'PUT', keyOfShard(leader, shard, 'prov/leader-gone/'));
    expect(r.status).toBe(503);
    expect(JSON.parse(r.body)).toEqual({
      error: {
        code: 'unavailable',
        message: expect.stringMatching(/^the shard leader at http:\/\/127\.0\.0\.1:\d+ could not be reached/),
      },
    });
    expect(provenanceOf(r)).toEqual(provenanceNow(follower, shard));
  });
});
