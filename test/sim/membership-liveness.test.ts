/**
 * Two liveness rules of configuration changes that the membership swarm found broken once, each
 * replayed by the seed that found it: before the fix, both groups were left without any member
 * able to win an election, for good; now both converge.
 */
import { describe, expect, it } from 'vitest';
import { runSeed } from './run-seed.js';

describe('liveness of configuration changes', () => {
  it('seed 754: a voter whose log lacks a promotion still votes for the promoted member (thesis §4.1)', async () => {
    // n9, a voter of {n4c, n9, n10} whose log is the longest, needs n10's vote (n4c's disk was
    // lost); n10's log ends before n9's promotion, where n9 is a learner: n10 answers it.
    const stats = await runSeed(754);
    expect(stats.membersCreated).toBeGreaterThan(stats.memberCount);
  });

  it('seed 81: a leader whose own removal is uncommitted keeps campaigning after stepping down (thesis §4.2.2)', async () => {
    // n1 proposed its own removal from {n1, n3b}; n3b crashed before it arrived; check-quorum made
    // n1 step down. n3b needs n1's vote, n1's log is longer: n1 campaigns, wins and commits it.
    const stats = await runSeed(81);
    expect(stats.membersCreated).toBeGreaterThan(stats.memberCount);
  });
});
