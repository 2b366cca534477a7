/**
 * README's API: "SIGKILL at any moment loses no acknowledged write." Eight clients write unique keys
 * without pause while, four times, the leader of a shard is killed with SIGKILL and restarted.
 * Afterwards every write answered 200 reads back (linearizably) with its exact value and version,
 * and every write refused with 503 (nothing done) is absent.
 */

import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { useCluster } from './harness.js';
import { expectedAfter, readBack, Writers } from './workload.js';

describe('crash safety', () => {
  const cluster = useCluster({ name: 'crash-safety' });

  it('no acknowledged write is lost while shard leaders are killed with SIGKILL and restarted', async () => {
    const cl = cluster();
    const writers = new Writers(cl, { writers: 8, prefix: 'crash' });
    writers.start();
    const kills: string[] = [];
    try {
      await cl.waitFor(() => writers.acked.length >= 50, { what: '50 acknowledged writes' });
      for (let round = 0; round < 4; round++) {
        const shard = round % cl.shards;
        const leader = await cl.waitLeader(shard);
        const killedMs = performance.now();
        await cl.kill(leader);
        // Writes to the shard resume on a new leader while the old one is down.
        await cl.waitFor(() => writers.ackedSince(killedMs, shard) >= 1, {
          timeoutMs: 10_000,
          what: `a write to shard ${shard} after killing its leader ${leader}`,
        });
        const resumedMs = performance.now();
        const successor = await cl.waitLeader(shard, { not: leader });
        await cl.start(leader);
        const startedMs = performance.now();
        await cl.waitReady();
        const mark = writers.acked.length;
        await cl.waitFor(() => writers.acked.length >= mark + 20, {
          what: `20 more acknowledged writes after ${leader} restarted`,
        });
        const ms = (a: number, b: number) => Math.round(b - a);
        kills.push(`shard ${shard}: ${leader} -> ${successor}`);
        console.log(
          `[crash-safety] round ${round}: killed ${leader} (leader of shard ${shard}), writes resumed after ` +
            `${ms(killedMs, resumedMs)} ms on ${successor}; restart took ${ms(resumedMs, startedMs)} ms, ` +
            `ready after ${ms(startedMs, performance.now())} ms more; ${writers.summary()}`,
        );
      }
    } finally {
      await writers.stop();
    }
    await cl.waitReady();

    const readMs = performance.now();
    const report = await readBack(cl, expectedAfter(writers), { concurrency: 32 });
    console.log(
      `[crash-safety] ${kills.length} leader kills (${kills.join('; ')}); writes: ${writers.summary()}; ` +
        `read back ${report.checked} keys in ${Math.round(performance.now() - readMs)} ms, ${report.wrong.length} wrong`,
    );
    expect(report.wrong.slice(0, 20)).toEqual([]);
    expect(writers.offCatalogue).toEqual([]);
    expect(kills.length).toBe(4);
    expect(writers.acked.length).toBeGreaterThanOrEqual(500);
  });
});
