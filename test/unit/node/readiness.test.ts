/**
 * Readiness (README's API /readyz) under a stream of writes: a replica that applies what commits, one
 * turn after it commits, stays ready the whole time (CommitTrail remembers the commit index of a
 * second ago, which is what it must have applied); one that knows no leader is not.
 */

import { afterEach, describe, expect, it } from 'vitest';
import { CommitTrail } from '../../../src/node/commit-trail.js';
import { InMemoryCluster, putCommand as put } from './in-memory-cluster.js';

let cluster: InMemoryCluster | null = null;

afterEach(async () => {
  await cluster?.stopAll();
  cluster = null;
});

describe('CommitTrail', () => {
  it('answers the oldest of the last `length` samples', () => {
    const trail = new CommitTrail(3);
    expect(trail.oldest()).toBe(null);
    trail.note(1);
    expect(trail.oldest()).toBe(1);
    trail.note(2);
    trail.note(3);
    expect(trail.oldest()).toBe(1);
    trail.note(4);
    expect(trail.oldest()).toBe(2);
    trail.note(5);
    trail.note(6);
    trail.note(7);
    expect(trail.oldest()).toBe(5);
  });
});

describe('readiness of a node', () => {
  it('every node stays ready while 2,000 writes stream through the leader', async () => {
    cluster = new InMemoryCluster(['a', 'b', 'c'], 1);
    await cluster.startAll();
    const leader = await cluster.settledLeaderOf(0);
    for (const n of cluster.nodes.values()) await expect.poll(() => n.ready()).toBe(true);
    let checks = 0;
    let unready = 0;
    let writing = true;
    const watch = (async () => {
      while (writing) {
        for (const n of cluster!.nodes.values()) {
          checks++;
          if (!n.ready()) unready++;
        }
        await new Promise((r) => setImmediate(r));
      }
    })();
    const writes = [];
    for (let i = 0; i < 2_000; i++) {
      writes.push(leader.propose(0, put(`k${i}`, 'v')).catch(() => null));
      if (i % 50 === 49) await new Promise((r) => setTimeout(r, 1));
    }
    await Promise.all(writes);
    writing = false;
    await watch;
    expect(checks).toBeGreaterThan(100);
    expect({ checks, unready }).toEqual({ checks, unready: 0 });
  });

  it('a replica cut off from its leader is not ready once it forgets the leader', async () => {
    cluster = new InMemoryCluster(['a', 'b', 'c'], 1);
    await cluster.startAll();
    const leader = await cluster.leaderOf(0);
    const follower = [...cluster.nodes.values()].find((n) => n !== leader)!;
    await expect.poll(() => follower.ready()).toBe(true);
    cluster.isolated.add(follower.id);
    await expect.poll(() => follower.ready(), { timeout: 5_000 }).toBe(false);
  });
});
