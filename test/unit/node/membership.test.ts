/**
 * A node's part in membership changes, on in-memory stores and transport: a replica created to
 * join a group catches up as a learner and is promoted; a node applies its removal by retiring
 * its replica and deleting its records; configurations from before a replica joined do not
 * retire it; the node restarts with the replicas its store records, not the cluster file's.
 */

import { afterEach, describe, expect, it } from 'vitest';
import { membershipGroup } from '../../../src/membership/index.js';
import type { RaftKVNode } from '../../../src/node/node.js';
import type { RaftStore } from '../../../src/storage/raft-store.js';
import { InMemoryCluster, putCommand as put } from './in-memory-cluster.js';

let cluster: InMemoryCluster | null = null;
afterEach(async () => {
  await cluster?.stopAll();
  cluster = null;
});

/** The one node of `c` that hosts no replica of `shard` at the start (4 nodes, 3 replicas). */
function outsider(c: InMemoryCluster, shard: number): RaftKVNode {
  return [...c.nodes.values()].find((n) => !n.groups.has(shard))!;
}

async function staleValue(node: RaftKVNode, key: string): Promise<string | null> {
  const { entry } = await node.read(0, key, 'stale');
  return entry === null ? null : Buffer.from(entry.value).toString();
}

async function writeSome(leader: RaftKVNode, shard: number, prefix: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) await leader.propose(shard, put(`${prefix}${i}`, `v${i}`));
}

/** The shards a store records replicas of (the membership group, which every node hosts, aside). */
async function shardReplicas(store: RaftStore): Promise<number[]> {
  return [...(await store.replicas()).keys()].filter((g) => g !== membershipGroup);
}

describe('membership changes on a node', () => {
  it('adds a learner on a fourth node, promotes it, removes an original voter, and that voter deletes its replica', async () => {
    cluster = new InMemoryCluster(['a', 'b', 'c', 'd'], 1, { replicas: 3 });
    await cluster.startAll();
    const leader = await cluster.settledLeaderOf(0);
    await writeSome(leader, 0, 'k', 20);
    const newcomer = outsider(cluster, 0);
    const conf = leader.members(0)!;

    await newcomer.hostReplica(0, { voters: conf.voters, learners: [newcomer.id] }, leader.lastIndex(0));
    expect(await leader.changeMembers(0, { type: 'addLearner', node: newcomer.id })).toEqual({
      voters: conf.voters,
      learners: [newcomer.id],
    });
    await leader.learnerCaughtUp(0, newcomer.id, 5_000);
    expect(await leader.changeMembers(0, { type: 'promote', node: newcomer.id })).toEqual({
      voters: [...conf.voters, newcomer.id],
      learners: [],
    });
    await expect.poll(() => staleValue(newcomer, 'k19')).toBe('v19');

    const leaving = cluster.nodes.get(conf.voters.find((id) => id !== leader.id)!)!;
    expect(await leader.changeMembers(0, { type: 'remove', node: leaving.id })).toEqual({
      voters: [...conf.voters.filter((id) => id !== leaving.id), newcomer.id],
      learners: [],
    });
    await expect.poll(() => leaving.groups.has(0)).toBe(false);
    await expect.poll(async () => shardReplicas(cluster!.stores.get(leaving.id)!)).toEqual([]);
    expect(await cluster.stores.get(leaving.id)!.load(0)).toEqual({
      hardState: { term: 0, vote: null, commit: 0 },
      snapshot: null,
      entries: [],
    });
    expect(cluster.fatal).toBe(null);
  });

  it('a second change while one is pending is a conflict, and nothing is proposed', async () => {
    cluster = new InMemoryCluster(['a', 'b', 'c', 'd'], 1, { replicas: 3 });
    await cluster.startAll();
    const leader = await cluster.settledLeaderOf(0);
    const newcomer = outsider(cluster, 0);
    const conf = leader.members(0)!;
    await newcomer.hostReplica(0, { voters: conf.voters, learners: [newcomer.id] }, leader.lastIndex(0));
    const start = leader.lastIndex(0);
    const first = leader.changeMembers(0, { type: 'addLearner', node: newcomer.id });
    await expect(leader.changeMembers(0, { type: 'remove', node: conf.voters[2]! })).rejects.toMatchObject({
      code: 'conflict',
      status: 409,
    });
    await first;
    // Only the first change reached the log (one entry), and the removal never happened.
    expect(leader.lastIndex(0)).toBe(start + 1);
    expect(leader.members(0)).toEqual({ voters: conf.voters, learners: [newcomer.id] });
  });

  it('configurations from before a replica joined do not retire it while it replays them', async () => {
    cluster = new InMemoryCluster(['a', 'b', 'c', 'd'], 1, { replicas: 3 });
    await cluster.startAll();
    const leader = await cluster.settledLeaderOf(0);
    const conf = leader.members(0)!;
    const other = outsider(cluster, 0);
    // History: `other` joins and leaves once, so the log holds configurations without it.
    await other.hostReplica(0, { voters: conf.voters, learners: [other.id] }, leader.lastIndex(0));
    await leader.changeMembers(0, { type: 'addLearner', node: other.id });
    await leader.changeMembers(0, { type: 'remove', node: other.id });
    await expect.poll(() => other.groups.has(0)).toBe(false);
    await writeSome(leader, 0, 'h', 5);
    // It joins again: replaying the old add and remove must not retire the new replica.
    await other.hostReplica(0, { voters: conf.voters, learners: [other.id] }, leader.lastIndex(0));
    await leader.changeMembers(0, { type: 'addLearner', node: other.id });
    await leader.learnerCaughtUp(0, other.id, 5_000);
    await expect.poll(() => staleValue(other, 'h4')).toBe('v4');
    expect(other.groups.has(0)).toBe(true);
    expect(await shardReplicas(cluster.stores.get(other.id)!)).toEqual([0]);
  });

  it('a restarted node hosts the replicas its store records, not the ones the cluster file placed', async () => {
    cluster = new InMemoryCluster(['a', 'b', 'c', 'd'], 1, { replicas: 3 });
    await cluster.startAll();
    const leader = await cluster.settledLeaderOf(0);
    const newcomer = outsider(cluster, 0);
    const conf = leader.members(0)!;
    await newcomer.hostReplica(0, { voters: conf.voters, learners: [newcomer.id] }, leader.lastIndex(0));
    await leader.changeMembers(0, { type: 'addLearner', node: newcomer.id });
    await leader.learnerCaughtUp(0, newcomer.id, 5_000);
    await leader.changeMembers(0, { type: 'promote', node: newcomer.id });
    const leaving = conf.voters.find((id) => id !== leader.id)!;
    await leader.changeMembers(0, { type: 'remove', node: leaving });
    await expect.poll(() => cluster!.nodes.get(leaving)!.groups.has(0)).toBe(false);

    for (const id of [newcomer.id, leaving]) {
      await cluster.nodes.get(id)!.stop({ transferMs: 0 });
      await cluster.start(id);
    }
    expect({
      newcomer: cluster.nodes.get(newcomer.id)!.groups.has(0),
      leaving: cluster.nodes.get(leaving)!.groups.has(0),
    }).toEqual({ newcomer: true, leaving: false });
    expect(cluster.nodes.get(newcomer.id)!.members(0)!.voters).toContain(newcomer.id);
  });

  it('a replica created for an addition that was never proposed is dropped; one that joined is not', async () => {
    cluster = new InMemoryCluster(['a', 'b', 'c', 'd'], 1, { replicas: 3 });
    await cluster.startAll();
    const leader = await cluster.settledLeaderOf(0);
    const newcomer = outsider(cluster, 0);
    const conf = leader.members(0)!;
    await newcomer.hostReplica(0, { voters: conf.voters, learners: [newcomer.id] }, leader.lastIndex(0));
    expect(await newcomer.dropUnjoinedReplica(0)).toBe(true);
    expect(newcomer.groups.has(0)).toBe(false);
    expect(await shardReplicas(cluster.stores.get(newcomer.id)!)).toEqual([]);

    await newcomer.hostReplica(0, { voters: conf.voters, learners: [newcomer.id] }, leader.lastIndex(0));
    await leader.changeMembers(0, { type: 'addLearner', node: newcomer.id });
    await leader.learnerCaughtUp(0, newcomer.id, 5_000);
    expect(await newcomer.dropUnjoinedReplica(0)).toBe(false);
    expect(newcomer.groups.has(0)).toBe(true);
  });
});
