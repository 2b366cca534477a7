/**
 * The swarm: hundreds of seeds, each a whole cluster run with the faults its seed chose, then
 * heal and convergence. `SIM_SEED=n npx vitest run test/sim` runs seed n alone; a failure names
 * its seed and the command that replays it with a trace. Every test stands alone (`-t` works):
 * a seed's run is shared between the tests that need it, never required from another test.
 */
import { describe, expect, it } from 'vitest';
import { runSeed } from './run-seed.js';
import type { SimStats } from './simulation.js';
import { describeParams, swarmParams } from './swarm-params.js';

/**
 * Seeds in the default suite (about 12 s on one core, membership changes included); `npm run sim
 * -- --seeds N --from S` runs any range, as many as you like.
 */
const seedCount = 500;
const oneSeed = process.env.SIM_SEED;
const seeds = oneSeed === undefined ? Array.from({ length: seedCount }, (_, i) => i) : [Number(oneSeed)];

/** Each seed runs once per file, whichever test asks first. */
const runs = new Map<number, Promise<SimStats>>();
function statsOf(seed: number): Promise<SimStats> {
  let run = runs.get(seed);
  if (run === undefined) {
    run = runSeed(seed);
    runs.set(seed, run);
  }
  return run;
}

describe('swarm: safe under faults, live after heal', () => {
  it.each(seeds)('seed %i', async (seed) => {
    const stats = await statsOf(seed);
    expect(stats.appliedMax).toBeGreaterThan(0);
  });

  it.skipIf(oneSeed !== undefined)('the seeds mixed every kind of fault and both cluster sizes', async () => {
    const all: SimStats[] = [];
    for (const seed of seeds) all.push(await statsOf(seed));
    const sum = (f: (s: SimStats) => number) => all.reduce((n, s) => n + f(s), 0);
    expect(all.length).toBe(seedCount);
    expect(all.filter((s) => s.memberCount === 3).length).toBeGreaterThan(seedCount / 4);
    expect(all.filter((s) => s.memberCount === 5).length).toBeGreaterThan(seedCount / 4);
    for (const count of [
      sum((s) => s.faults.crashes),
      sum((s) => s.faults.pauses),
      sum((s) => s.faults.partitions),
      sum((s) => s.faults.transfers),
      sum((s) => s.faults.resets),
      sum((s) => s.faults.spuriousResets),
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

  it.skipIf(oneSeed !== undefined)(
    'seeds differ: some tell members of crashes, some not; some reset connections spuriously, some not',
    async () => {
      const all: SimStats[] = [];
      for (const seed of seeds) all.push(await statsOf(seed));
      const withSpurious = all.filter((s) => s.faults.spuriousResets > 0);
      expect(withSpurious.length).toBeGreaterThan(seedCount / 4);
      expect(all.filter((s) => s.params.spuriousResetPermille === 0).length).toBeGreaterThan(seedCount / 4);
      for (const s of all.filter((s) => s.params.spuriousResetPermille === 0))
        expect(s.faults.spuriousResets).toBe(0);
      expect(all.filter((s) => s.faults.resets > 0).length).toBeGreaterThan(seedCount / 4);
      expect(all.filter((s) => s.params.crashResetPermille === 0).length).toBeGreaterThan(seedCount / 10);
      for (const s of all.filter((s) => s.params.crashResetPermille === 0)) expect(s.faults.resets).toBe(0);
      // Spurious resets reached leaders with pre-vote and check-quorum, where the hint is taken.
      const hinted = withSpurious.filter((s) => s.params.tuning.preVote && s.params.tuning.checkQuorum);
      expect(hinted.length).toBeGreaterThan(seedCount / 5);
    },
  );

  it.skipIf(oneSeed !== undefined)(
    'some seeds changed the membership in every way, others not at all',
    async () => {
      const all: SimStats[] = [];
      for (const seed of seeds) all.push(await statsOf(seed));
      const sum = (f: (s: SimStats) => number) => all.reduce((n, s) => n + f(s), 0);
      const changed = all.filter((s) => s.membership.proposed.addLearner + s.membership.proposed.remove > 0);
      expect(changed.length).toBeGreaterThan(seedCount / 4);
      expect(all.filter((s) => s.params.membershipPermille === 0).length).toBeGreaterThan(seedCount / 5);
      for (const size of [3, 5])
        expect(changed.filter((s) => s.memberCount === size).length).toBeGreaterThan(0);
      for (const count of [
        sum((s) => s.membership.proposed.addLearner),
        sum((s) => s.membership.proposed.promote),
        sum((s) => s.membership.proposed.remove),
        sum((s) => s.membership.replacesDone),
        sum((s) => s.membership.refused.pending ?? 0),
        sum((s) => s.commitChecks),
      ]) {
        expect(count).toBeGreaterThan(seedCount / 5);
      }
      for (const reason of ['alreadyMember', 'notMember', 'notLearner', 'learnerBehind'] as const) {
        expect(sum((s) => s.membership.refused[reason] ?? 0)).toBeGreaterThan(seedCount / 50);
      }
    },
  );
});

describe('determinism', () => {
  /** The trace `npm run sim -- --seeds 1 --from <seed> --trace` prints, shortened to `ticks`. */
  const trace = async (seed: number, ticks: number) => {
    const lines: string[] = [];
    await runSeed(seed, { ticks, trace: (line) => lines.push(line), traceMessages: true });
    return lines;
  };

  it('one seed replays its run event for event, messages, turns, waiters and membership changes included', async () => {
    const first = await trace(22, 300);
    expect(first.length).toBeGreaterThan(1_000);
    expect(
      first.filter((line) => / (addLearner|promote|remove) n\w+: proposed at /.test(line)).length,
    ).toBeGreaterThan(5);
    expect(await trace(22, 300)).toEqual(first);
    expect(await trace(8, 300)).not.toEqual(first);
  });

  it('a replay does not depend on what ran before it in the same process', async () => {
    const alone = await trace(11, 200);
    await runSeed(12, { ticks: 200 });
    expect(await trace(11, 200)).toEqual(alone);
  });

  it('a seed keeps choosing the same parameters, so a reported seed replays the reported run', () => {
    expect(describeParams(swarmParams(42))).toBe(
      'members=3 drop=150‰ dup=0‰ reorder=0‰ delay=1-2 crash=20‰ pause=3‰ partition=15‰ newLeaderStrike=300‰ ' +
        'downMax=3 snapshotEntries=47 clients=2 transfer=3‰ inflightMax=4 batchBytesMax=1 ' +
        'uncommittedEntriesMax=10000 preVote=true checkQuorum=true membership=5‰ promoteLagMax=8 ' +
        'crashReset=0‰ spuriousReset=0‰',
    );
    const distinct = new Set(Array.from({ length: 50 }, (_, seed) => describeParams(swarmParams(seed))));
    expect(distinct.size).toBe(50);
  });
});
