/**
 * Handing leadership over on SIGTERM (node/shutdown.ts), on in-memory nodes: a node stopping
 * alone hands every shard it leads to a member that stays; nodes stopping together hear from each
 * other within a heartbeat round and hand nothing to one another (a stopping peer would refuse
 * it, and the wait for it would hold the stop for the whole transfer timeout); a member that is
 * down is never a target.
 */

import { afterEach, describe, expect, it } from 'vitest';
import { membershipGroup } from '../../../src/membership/index.js';
import { balanceEveryTicks } from '../../../src/node/leader-balance.js';
import type { RaftKVNode } from '../../../src/node/node.js';
import { InMemoryCluster } from './in-memory-cluster.js';

const ids = ['n1', 'n2', 'n3'];
const shards = 3;
/** Far longer than any of these hand-overs may take: reaching it would be the failure. */
const transferMs = 5_000;

let cluster: InMemoryCluster | null = null;
afterEach(async () => {
  await cluster?.stopAll();
  cluster = null;
});

/** A started cluster whose every shard has a leader; shard → its leader's id. */
async function started(): Promise<{ c: InMemoryCluster; leaders: string[] }> {
  cluster = new InMemoryCluster(ids, shards);
  await cluster.startAll();
  const leaders: string[] = [];
  for (let s = 0; s < shards; s++) leaders.push((await cluster.settledLeaderOf(s)).id);
  return { c: cluster, leaders };
}

const shardsOf = (node: RaftKVNode, groups: readonly number[]) =>
  groups.filter((g) => g !== membershipGroup && node.groups.has(g));

describe('hand-over on stop', () => {
  it('a node stopping alone hands every shard it leads to a member that stays', async () => {
    const { c, leaders } = await started();
    const leaving = c.nodes.get(leaders[0]!)!;
    const led = leaders.flatMap((l, s) => (l === leaving.id ? [s] : []));
    const r = await leaving.handOver(transferMs);
    const handedShards = Object.keys(r.handedTo)
      .map(Number)
      .filter((g) => g !== membershipGroup);
    expect({
      handedShards: handedShards.sort(),
      kept: shardsOf(leaving, r.kept),
      still: r.stillLeading,
    }).toEqual({
      handedShards: led,
      kept: [],
      still: [],
    });
    for (const target of Object.values(r.handedTo)) expect(target).not.toBe(leaving.id);
    expect(r.peersStopping).toEqual([]);
    expect(r.waitedMs).toBeLessThan(transferMs);
  });

  it('nodes stopping together hand nothing to each other and keep what they lead', async () => {
    const { c, leaders } = await started();
    const nodes = ids.map((id) => c.nodes.get(id)!);
    const results = await Promise.all(nodes.map((n) => n.handOver(transferMs)));
    expect(
      results.map((r, i) => ({
        handedTo: r.handedTo,
        kept: shardsOf(nodes[i]!, r.kept),
        peersStopping: [...r.peersStopping].sort(),
      })),
    ).toEqual(
      ids.map((id) => ({
        handedTo: {},
        kept: leaders.flatMap((l, s) => (l === id ? [s] : [])),
        peersStopping: ids.filter((o) => o !== id),
      })),
    );
    for (const r of results) expect(r.waitedMs).toBeLessThan(transferMs);
  });

  it('two nodes stopping together hand their shards only to the one that stays', async () => {
    const { c, leaders } = await started();
    const staying = leaders[0]!;
    const stopping = ids.filter((id) => id !== staying).map((id) => c.nodes.get(id)!);
    const results = await Promise.all(stopping.map((n) => n.handOver(transferMs)));
    for (const r of results) {
      for (const target of Object.values(r.handedTo)) expect(target).toBe(staying);
      expect(r.stillLeading).toEqual([]);
    }
    const handed = results
      .flatMap((r) => Object.keys(r.handedTo).map(Number))
      .filter((g) => g !== membershipGroup);
    expect(handed.sort()).toEqual(leaders.flatMap((l, s) => (l === staying ? [] : [s])));
  });

  it('the new leader does not hand a shard back to its preferred member while that member is stopping', async () => {
    const { c, leaders } = await started();
    const leaving = c.nodes.get(leaders[0]!)!;
    const r = await leaving.handOver(transferMs);
    const newLeader = c.nodes.get(r.handedTo[0]!)!;
    // Watch the new leader over two of its leader-balancing rounds: it must never try to give
    // shard 0 back to its preferred (stopping) member, who would refuse and stall its writes.
    const transferees = new Set<string>();
    const until = Date.now() + 2 * balanceEveryTicks * c.config.tickMs + 100;
    while (Date.now() < until) {
      const t = newLeader.groupStatus(0)?.transferee;
      if (t !== null && t !== undefined) transferees.add(t);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    expect({ leader: newLeader.groupStatus(0)?.role, transferees: [...transferees] }).toEqual({
      leader: 'leader',
      transferees: [],
    });
  });

  it('a member that is down is no target: with the only other voters cut off, the leader keeps its shards', async () => {
    const { c, leaders } = await started();
    const leader = c.nodes.get(leaders[0]!)!;
    for (const id of ids) if (id !== leader.id) c.isolated.add(id);
    const r = await leader.handOver(transferMs);
    expect({ handedTo: r.handedTo, kept: shardsOf(leader, r.kept).includes(0) }).toEqual({
      handedTo: {},
      kept: true,
    });
  });
});
