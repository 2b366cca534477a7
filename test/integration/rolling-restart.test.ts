/**
 * A rolling restart, as an operator upgrades a cluster: each node in turn gets SIGTERM (a leader
 * hands its shards over first, then the node exits 0), starts again and rejoins before the next.
 * A client writing without pause loses no acknowledged write and never waits long for one, on
 * any shard.
 */

import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { useCluster } from './harness.js';
import { expectedAfter, readBack, Writers } from './workload.js';

/** Ample beyond the node's own bound on handing leadership over (3 s) plus flushing. */
const stopWaitMs = 8_000;

describe('rolling restart', () => {
  const cluster = useCluster({ name: 'rolling-restart' });

  it('restarting every node in turn with SIGTERM loses no write and stalls writes under 2000 ms', async () => {
    const cl = cluster();
    const writer = new Writers(cl, { writers: 1, prefix: 'rolling' });
    writer.start();
    const steps: string[] = [];
    const codes: (number | null)[] = [];
    let fromMs = 0;
    try {
      await cl.waitFor(() => writer.acked.length >= 20, { what: 'writes before the first restart' });
      fromMs = performance.now();
      for (const id of cl.ids) {
        const stepMs = performance.now();
        const code = await cl.term(id, { waitMs: stopWaitMs });
        codes.push(code);
        const stoppedMs = performance.now();
        await cl.start(id);
        await cl.waitReady();
        const mark = writer.acked.length;
        await cl.waitFor(() => writer.acked.length >= mark + 10, { what: `writes after ${id} rejoined` });
        steps.push(
          `${id}: exit ${code} after ${Math.round(stoppedMs - stepMs)} ms, back and ready after ` +
            `${Math.round(performance.now() - stoppedMs)} ms`,
        );
      }
    } finally {
      await writer.stop();
    }
    const overall = writer.longestGapMs(fromMs).gapMs;
    const perShard = Array.from({ length: cl.shards }, (_, s) => writer.longestGapMs(fromMs, s).gapMs);
    const report = await readBack(cl, expectedAfter(writer));
    console.log(
      `[rolling-restart] longest gap between acknowledged writes ${Math.round(overall)} ms ` +
        `(per shard ${perShard.map((g) => Math.round(g)).join(' / ')} ms); ${steps.join('; ')}; ` +
        `writes: ${writer.summary()}; read back ${report.checked} keys, ${report.wrong.length} wrong`,
    );
    expect(report.wrong).toEqual([]);
    expect(writer.offCatalogue).toEqual([]);
    expect(codes).toEqual([0, 0, 0]);
    expect(overall).toBeLessThan(2_000);
    expect(Math.max(...perShard)).toBeLessThan(2_000);
  });
});
