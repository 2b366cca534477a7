/**
 * The swarm: hundreds of seeds, each a whole cluster run with the faults its seed chose, then
 * heal and convergence. `SIM_SEED=n npx vitest run test/sim` runs seed n alone; a failure names
 * its seed and the command that replays it with a trace.
 */
import { describe, expect, it } from 'vitest';
import { runSeed } from './run-seed.js';
import type { SimStats } from './simulation.js';
import { swarmParams } from './swarm-params.js';

const seedCount = 500;
const oneSeed = process.env.SIM_SEED;
const seeds = oneSeed === undefined ? Array.from({ length: seedCount }, (_, i) => i) : [Number(oneSeed)];

describe('swarm: safe under faults, live after heal', () => {
  const runs: SimStats[] = [];

  it.each(seeds)('seed %i', (seed) => {
    const stats = runSeed(seed);
    runs.push(stats);
    expect(stats.appliedMax).toBeGreaterThan(0);
  });

  it.skipIf(oneSeed !== undefined)('the seeds mixed every kind of fault and both cluster sizes', () => {
    const sum = (f: (s: SimStats) => number) => runs.reduce((n, s) => n + f(s), 0);
    expect(runs.length).toBe(seedCount);
    expect(runs.filter((s) => s.memberCount === 3).length).toBeGreaterThan(seedCount / 4);
    expect(runs.filter((s) => s.memberCount === 5).length).toBeGreaterThan(seedCount / 4);
    for (const count of [
      sum((s) => s.faults.crashes),
      sum((s) => s.faults.pauses),
      sum((s) => s.faults.partitions),
      sum((s) => s.faults.transfers),
      sum((s) => s.network.dropped),
      sum((s) => s.network.duplicated),
      sum((s) => s.network.reordered),
      sum((s) => s.snapshotsInstalled),
      sum((s) => s.clients.writesAcked),
      sum((s) => s.clients.readsServed),
      sum((s) => s.electionDurationsTicks.length),
    ]) {
      expect(count).toBeGreaterThan(seedCount / 5);
    }
  });
});

describe('determinism', () => {
  it('one seed replays its run event for event, messages included', () => {
    const trace = (seed: number) => {
      const lines: string[] = [];
      runSeed(seed, { ticks: 300, trace: (line) => lines.push(line), traceMessages: true });
      return lines;
    };
    const first = trace(7);
    expect(first.length).toBeGreaterThan(1_000);
    expect(trace(7)).toEqual(first);
    expect(trace(8)).not.toEqual(first);
  });

  it('the parameters depend on the seed alone', () => {
    expect(swarmParams(42)).toEqual(swarmParams(42));
  });
});
