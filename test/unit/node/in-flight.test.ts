/**
 * The node's cap on requests in flight (`requestsInFlightMax`), on an in-memory cluster: a
 * leader takes at most that many writes and linearizable reads at once, refuses the rest at once
 * with 503 `unavailable` before proposing anything, and takes requests again as they finish.
 */

import { afterEach, describe, expect, it } from 'vitest';
import { KVError } from '../../../src/node/errors.js';
import { InFlightLimit } from '../../../src/node/in-flight.js';
import { InMemoryCluster, putCommand as put } from './in-memory-cluster.js';

let cluster: InMemoryCluster | null = null;

afterEach(async () => {
  await cluster?.stopAll();
  cluster = null;
});

describe('InFlightLimit', () => {
  it('gives out at most max slots, each returned once however often it is released', () => {
    let refused = 0;
    const limit = new InFlightLimit('n1', 2, () => refused++);
    const a = limit.acquire();
    const b = limit.acquire();
    expect(() => limit.acquire()).toThrow(
      'node n1 is at its limit of 2 requests in flight; nothing was done, retry later',
    );
    a();
    a();
    expect(limit.count).toBe(1);
    const c = limit.acquire();
    expect(() => limit.acquire()).toThrow(KVError);
    b();
    c();
    expect({ count: limit.count, refused }).toEqual({ count: 0, refused: 2 });
  });
});

describe('the in-flight cap of a node', () => {
  it('a leader proposes at most requestsInFlightMax writes at once and refuses the rest before proposing', async () => {
    cluster = new InMemoryCluster(['a', 'b', 'c'], 1, { requestsInFlightMax: 8 });
    await cluster.startAll();
    const leader = await cluster.settledLeaderOf(0);
    const lastBefore = leader.status().groups[0]!.lastIndex;
    const writes = Array.from({ length: 100 }, (_, i) => leader.propose(0, put(`k${i}`, `v${i}`)));
    // Only the admitted writes reached the log.
    expect(leader.status().groups[0]!.lastIndex).toBe(lastBefore + 8);
    expect(leader.inFlight.count).toBe(8);
    // A linearizable read needs a slot too; a stale read does not.
    const read = await leader.read(0, 'k0', 'linearizable').catch((e: unknown) => e);
    expect(read).toBeInstanceOf(KVError);
    await expect(leader.read(0, 'k0', 'stale')).resolves.toMatchObject({ entry: null });

    const outcomes = await Promise.allSettled(writes);
    const applied = outcomes.flatMap((o, i) => (o.status === 'fulfilled' ? [i] : []));
    expect(applied).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    for (const o of outcomes.slice(8)) {
      expect(o.status).toBe('rejected');
      const err = (o as PromiseRejectedResult).reason as KVError;
      expect({ status: err.status, code: err.code, message: err.message }).toEqual({
        status: 503,
        code: 'unavailable',
        message: `node ${leader.id} is at its limit of 8 requests in flight; nothing was done, retry later`,
      });
    }
    expect(leader.inFlight.count).toBe(0);
    for (const i of [7, 8, 99]) {
      const { entry } = await leader.read(0, `k${i}`, 'linearizable');
      expect({ i, value: entry === null ? null : Buffer.from(entry.value).toString() }).toEqual({
        i,
        value: i < 8 ? `v${i}` : null,
      });
    }
    const after = await leader.propose(0, put('after', 'x'));
    expect(after.result).toEqual({ ok: true, op: 'put', version: String(after.at.index) });
    expect(cluster.fatal).toBe(null);
  });
});
