/**
 * Catching up by snapshot (Raft §7): with `snapshotEntries: 50`, leaders compact their logs while
 * a follower is down, so the returning follower can only catch up by installing a snapshot from
 * the leader of every group. It must end with the same data, and keep it across its own restart.
 */

import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { useCluster } from './harness.js';
import { readBack, writeAll } from './workload.js';

describe('snapshot catch-up', () => {
  const cluster = useCluster({ name: 'snapshot', tuning: { snapshotEntries: 50 } });

  it('a follower that missed 500 writes installs a snapshot of every group and serves the same data', async () => {
    const cl = cluster();
    const victim = 'n3';
    expect(await cl.term(victim)).toBe(0);

    const run = randomUUID().slice(0, 8);
    const entries = new Map(
      Array.from({ length: 500 }, (_, i) => [
        `snap/${run}/${String(i).padStart(3, '0')}`,
        `value ${i} ${randomUUID()}`,
      ]),
    );
    const versions = await writeAll(cl, entries);
    expect(versions.size).toBe(500);
    const expected = new Map([...entries].map(([k, value]) => [k, { value, version: versions.get(k)! }]));

    await cl.start(victim);
    const caughtUp = await cl.waitFor(
      async () => {
        const mine = await cl.status(victim);
        const rows: string[] = [];
        for (const g of mine.groups) {
          const leader = await cl.leaderOf(g.shard);
          if (leader === null) return null;
          const { commit } = await cl.groupStatus(leader, g.shard);
          if (g.applied !== commit || g.snapshotIndex === 0) return null;
          rows.push(
            `shard ${g.shard}: applied ${g.applied} = ${leader}'s commit, snapshot index ${g.snapshotIndex}`,
          );
        }
        return rows;
      },
      { timeoutMs: 20_000, what: `${victim} to apply every group up to its leader's commit from a snapshot` },
    );

    const installed = cl.logEvents(victim, 'installed snapshot from leader');
    expect([...new Set(installed.map((e) => e.group))].sort()).toEqual([0, 1, 2]);

    const stale = await readBack(cl, expected, { node: victim, stale: true });
    expect(stale.wrong).toEqual([]);

    // What the follower installed is durable: after SIGKILL it loads from its own snapshots.
    await cl.kill(victim);
    await cl.start(victim);
    await cl.waitReady();
    // (The membership group loads last; it took no snapshot of its few entries.)
    const loaded = cl
      .logEvents(victim, 'group loaded from disk')
      .filter((e) => e.group !== 'membership')
      .slice(-3);
    expect(loaded.map((e) => [e.group, (e.snapshotIndex as number) > 0])).toEqual([
      [0, true],
      [1, true],
      [2, true],
    ]);
    const afterRestart = await readBack(cl, expected, { node: victim, stale: true });
    expect(afterRestart.wrong).toEqual([]);

    console.log(
      `[snapshot-catchup] ${victim} missed ${versions.size} writes; caught up (${caughtUp.join('; ')}); ` +
        `${installed.length} snapshots installed; ${stale.checked} stale reads on ${victim} correct, ` +
        `again after its restart`,
    );
  });
});
