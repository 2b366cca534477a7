/**
 * A node whose data directory was lost must not come back as the member it was (README's API
 * "Changing the cluster"): it forgot its votes and its log, so with a peer down it could help
 * elect a leader that lacks acknowledged writes. Started again with an empty directory it is
 * refused with one line saying what to do; once it is removed by force it starts as a new member
 * with none, and added to the node table again it gets replicas, which catch up and serve.
 */

import { rmSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { localClusterSecret } from '../../harness/index.js';
import { runCli, useCluster } from './harness.js';
import { readBack, writeAll } from './workload.js';

// runCli's node must know the cluster secret the harness gives its nodes.
process.env.RAFTKV_CLUSTER_SECRET ??= localClusterSecret;

interface Members {
  readonly shard: number;
  readonly voters: string[];
  readonly learners: string[];
}

describe('a node with a wiped data directory', () => {
  const cluster = useCluster({ name: 'wiped-disk', shards: 2 });

  it('is refused while a member, and after removal and re-adding catches up and serves', async () => {
    const cl = cluster();
    const before = new Map(Array.from({ length: 40 }, (_, i) => [`wiped/before/${i}`, `value ${i}`]));
    const beforeVersions = await writeAll(cl, before);

    await cl.kill('n3');
    rmSync(cl.dataDir('n3'), { recursive: true, force: true });
    const refused = await runCli(
      ['serve', '--config', cl.configPath, '--id', 'n3', '--data', cl.dataDir('n3')],
      30_000,
    );
    const lines = refused.stderr.split('\n');
    expect({ code: refused.code, lines: lines.length }).toEqual({ code: 1, lines: 2 });
    expect(lines[0]).toContain('node n3 is still a member of the cluster (so says n1, n2)');
    expect(lines[0]).toContain('DELETE /v1/admin/shards/{shard}/members/n3');

    // Writes go on with two of three voters meanwhile.
    const during = new Map(Array.from({ length: 20 }, (_, i) => [`wiped/during/${i}`, `value ${i}`]));
    const duringVersions = await writeAll(cl, during);

    // node remove n3 --force: once the rebalancer has seen it down, it leaves the node table, the
    // membership group and (no other node to take them) its shards, which shrink to n1 and n2.
    await cl.waitFor(
      async () =>
        (await cl.request('DELETE', '/v1/admin/nodes/n3?force=true', { node: 'n1' })).status === 200,
      { what: 'the forced removal of n3 to be accepted', timeoutMs: 15_000 },
    );
    await cl.waitFor(
      async () => {
        const v = (await cl.request('GET', '/v1/cluster', { node: 'n1' })).json<{
          shards: Members[];
          nodes: { id: string }[];
        }>();
        return v.nodes.every((n) => n.id !== 'n3') && v.shards.every((m) => !m.voters.includes('n3'));
      },
      { what: 'n3 to be out of the table and of every shard', timeoutMs: 20_000 },
    );

    // Started again, every node confirms the new directory (it is no member any more): it starts
    // with no replica. Added to the table again, the rebalancer gives it a replica of each shard.
    await cl.start('n3');
    expect((await cl.status('n3')).groups).toEqual([]);
    const { api, peer } = cl.spec('n3');
    // (Refused with 503 until the membership group has dropped the old n3 too: asked again.)
    await cl.waitFor(
      async () => {
        const added = await cl.request('POST', '/v1/admin/nodes', {
          node: 'n2',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ id: 'n3', api, peer }),
        });
        if (added.status === 503) return false;
        expect(added.status).toBe(200);
        return true;
      },
      { what: 'n3 to be added again', timeoutMs: 15_000, intervalMs: 250 },
    );
    await cl.waitFor(
      async () => {
        const v = (await cl.request('GET', '/v1/cluster', { node: 'n1' })).json<{ shards: Members[] }>();
        return v.shards.every((m) => m.voters.includes('n3') && m.learners.length === 0);
      },
      { what: 'the rebalancer to give n3 a voting replica of every shard', timeoutMs: 30_000 },
    );
    await cl.waitReady();

    const expected = new Map<string, { value: string; version: string }>();
    for (const [k, v] of before) expected.set(k, { value: v, version: beforeVersions.get(k)! });
    for (const [k, v] of during) expected.set(k, { value: v, version: duringVersions.get(k)! });
    // n3 holds everything: read from its own replicas, stale, once it has applied what was committed.
    await cl.waitFor(
      async () =>
        (await readBack(cl, expected, { node: 'n3', stale: true, deadlineMs: 1_000 })).wrong.length === 0,
      { what: 'n3 to hold every acknowledged write', timeoutMs: 20_000 },
    );
    const linearizable = await readBack(cl, expected);
    expect(linearizable.wrong).toEqual([]);
  });
});
