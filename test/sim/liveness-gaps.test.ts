/**
 * Two liveness gaps of the Raft core that the membership swarm found, kept visible: with the
 * operator's guard rule lifted (sim-membership.ts), these seeds leave their group without any
 * member able to win an election, for good. Safety holds in both. The default swarm keeps clear
 * of them by that rule; once the core follows the thesis here, these runs converge, these tests
 * fail, and the rule and this file should go.
 */
import { describe, expect, it } from 'vitest';
import { runSeed } from './run-seed.js';

const stuck = /^seed=\d+: liveness: not converged/;

describe('known liveness gaps of configuration changes (the core, not the simulator)', () => {
  it('seed 754: a voter ignores the vote requests of a member it does not know was promoted', async () => {
    // raft.ts Raft.step drops requestVote from non-voters of the receiver's latest configuration.
    // n9, a voter of {n4c, n9, n10} whose log is the longest, needs n10's vote (n4c's disk was
    // lost); n10's log ends before n9's promotion, so it ignores n9. Thesis §4.1: servers grant
    // votes without consulting their configurations.
    await expect(runSeed(754, { avoidLivenessGaps: false })).rejects.toThrow(stuck);
  });

  it('seed 81: a leader that removed itself stepped down before the removal committed, and never campaigns', async () => {
    // raft.ts Raft.tick: a member that is not a voter in its latest configuration never campaigns.
    // n1 proposed its own removal from {n1, n3b}; n3b crashed before it arrived; check-quorum made
    // n1 step down. n3b needs n1's vote, but n1's log is longer; n1 will not campaign. Thesis
    // §4.2.2: it should keep starting elections until its removal commits.
    await expect(runSeed(81, { avoidLivenessGaps: false })).rejects.toThrow(stuck);
  });
});
