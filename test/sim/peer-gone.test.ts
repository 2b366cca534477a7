/**
 * Raft.peerGone in whole simulated clusters: three members on a calm network (every message
 * takes one tick, none lost) with clients writing and reading, and no fault but the ones each
 * test makes. A follower whose own connections to its live leader were reset deposes nobody;
 * followers told that their crashed leader is gone elect the next one within a few ticks
 * instead of an election timeout. Every checker of the simulation runs after every step, and
 * once more after heal.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Raft } from '../../src/raft/raft.js';
import { defaultRaftTuning, type NodeId } from '../../src/raft/types.js';
import { ElectionTimer } from './election-timer.js';
import type { SimMember } from './sim-member.js';
import { Simulation } from './simulation.js';
import type { SwarmParams } from './swarm-params.js';

const { electionTicks } = defaultRaftTuning;
const seeds = [0, 1, 2, 3, 4, 5, 6, 7];

/** A follower whose connections to its leader were reset is cut off from it this long, then reconnects. */
const reconnectTicks = 3;

/**
 * Ticks from the hint to a new leader known to a majority, with every message one tick in
 * flight: the later of two followers campaigns 1 + 2 × 1 ticks after the hint (rank 1), then a
 * pre-vote and a vote round trip and the new leader's first append take five flights.
 */
const hintedElectionTicksMax = 1 + 2 * 1 + 5;

function calmParams(overrides: Partial<SwarmParams> = {}): SwarmParams {
  return {
    memberCount: 3,
    tuning: { ...defaultRaftTuning },
    network: {
      dropPermille: 0,
      duplicatePermille: 0,
      reorderPermille: 0,
      delayTicksMin: 1,
      delayTicksMax: 1,
    },
    crashPermille: 0,
    restartPermille: 0,
    pausePermille: 0,
    resumePermille: 0,
    partitionPermille: 0,
    partitionHealPermille: 0,
    newLeaderStrikePermille: 0,
    downMax: 0,
    snapshotEntries: 32,
    clientCount: 2,
    requestPermille: 700,
    readPermille: 300,
    keyCount: 4,
    requestTimeoutTicks: 60,
    transferPermille: 0,
    membershipPermille: 0,
    crashResetPermille: 0,
    spuriousResetPermille: 0,
    ...overrides,
  };
}

/** A started run whose leader every member knows, and its followers by id. */
async function stableCluster(
  seed: number,
  params: SwarmParams,
): Promise<{ sim: Simulation; leader: SimMember; followers: SimMember[] }> {
  const sim = new Simulation(seed, params);
  await sim.start();
  for (let tick = 0; tick < 10 * electionTicks; tick++) {
    await sim.run({ ticks: 1 });
    const leader = sim.members.find((m) => m.node.status().role === 'leader');
    if (leader === undefined) continue;
    const { id, term } = leader.node.status();
    const followers = sim.members.filter((m) => m !== leader);
    if (followers.every((m) => m.node.status().leader === id && m.node.status().term === term)) {
      return { sim, leader, followers: followers.sort((a, b) => (a.id < b.id ? -1 : 1)) };
    }
  }
  throw new Error(`seed ${seed}: no leader known to every member`);
}

/**
 * Crashes the leader, then steps one tick: what it sent before it died lands (as the data ahead
 * of a reset on a connection does). Returns a timer of the election, started now.
 */
async function crashLeader(sim: Simulation, leader: SimMember): Promise<ElectionTimer> {
  const { term } = leader.node.status();
  leader.crash();
  await sim.run({ ticks: 1 });
  const timer = new ElectionTimer();
  timer.leaderLost(leader.id, term, sim.now);
  return timer;
}

/** Steps until `timer` counts an election; returns its ticks. */
async function timeElection(sim: Simulation, timer: ElectionTimer): Promise<number> {
  for (let tick = 0; tick < 10 * electionTicks; tick++) {
    await sim.run({ ticks: 1 });
    timer.observe(sim.now, sim.members);
    const [ticks] = timer.durationsTicks;
    if (ticks !== undefined) return ticks;
  }
  throw new Error('no new leader known to a majority');
}

/** Heal, converge, and the final checks (no acknowledged write lost). */
async function finish(sim: Simulation): Promise<void> {
  await sim.heal();
  await sim.runUntil(() => sim.converged(), { ticksMax: 20 * electionTicks });
  await sim.check();
}

/** Counts the pre-campaigns of member `id` from now on. */
function preCampaignsOf(id: NodeId): () => number {
  const spy = vi.spyOn(Raft.prototype, 'becomePreCandidate');
  return () => (spy.mock.contexts as Raft[]).filter((r) => r.id === id).length;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe.each([
  { preVote: true, checkQuorum: true, hinted: true },
  { preVote: true, checkQuorum: false, hinted: false },
  { preVote: false, checkQuorum: true, hinted: false },
])(
  'preVote=$preVote checkQuorum=$checkQuorum: a follower that lost only its own connections',
  ({ preVote, checkQuorum, hinted }) => {
    it.each(seeds)('seed %i: told 20 times that its live leader is gone, deposes nobody', async (seed) => {
      const params = calmParams({ tuning: { ...defaultRaftTuning, preVote, checkQuorum } });
      const { sim, leader, followers } = await stableCluster(seed, params);
      const { term } = leader.node.status();
      // The first by id (rank 0) campaigns on its next tick, while it cannot hear the leader.
      const follower = followers[0]!;
      const preCampaigns = preCampaignsOf(follower.id);
      const ackedBefore = sim.stats().clients.writesAcked;
      for (let told = 0; told < 20; told++) {
        sim.disconnect(follower.id, leader.id);
        expect(follower.peerGone(leader.id)).toBe(true);
        expect(follower.node.status().leader).toBe(hinted ? null : leader.id);
        for (let tick = 0; tick < 15; tick++) {
          if (tick === reconnectTicks) sim.reconnect();
          await sim.run({ ticks: 1 });
          expect(leader.node.status()).toMatchObject({ role: 'leader', term });
        }
        expect(follower.node.status()).toMatchObject({ role: 'follower', term, leader: leader.id });
      }
      expect(preCampaigns()).toBe(hinted ? 20 : 0);
      expect(sim.stats().clients.writesAcked).toBeGreaterThan(ackedBefore + 20);
      await finish(sim);
      expect(leader.node.status()).toMatchObject({ role: 'leader', term });
    });
  },
);

describe('the leader crashes', () => {
  it.each(seeds)(
    'seed %i: both followers told at once elect a new leader within a few ticks',
    async (seed) => {
      const { sim, leader, followers } = await stableCluster(seed, calmParams());
      const timer = await crashLeader(sim, leader);
      for (const follower of followers) expect(follower.peerGone(leader.id)).toBe(true);
      expect(followers.map((m) => m.node.status().leader)).toEqual([null, null]);
      const ticks = await timeElection(sim, timer);
      expect(ticks).toBeLessThanOrEqual(hintedElectionTicksMax);
      expect(ticks).toBeLessThan(electionTicks);
      await finish(sim);
    },
  );

  it.each(seeds)('seed %i: told nothing, the followers wait out an election timeout', async (seed) => {
    const { sim, leader } = await stableCluster(seed, calmParams());
    const timer = await crashLeader(sim, leader);
    expect(await timeElection(sim, timer)).toBeGreaterThanOrEqual(electionTicks);
    await finish(sim);
  });

  it.each(seeds)(
    'seed %i: the simulation tells each follower one network delay after the crash',
    async (seed) => {
      const { sim, leader, followers } = await stableCluster(seed, calmParams({ crashResetPermille: 1000 }));
      expect(sim.stats().faults.resets).toBe(0);
      const timer = await crashLeader(sim, leader);
      expect(sim.stats().faults.resets).toBe(2);
      expect(followers.map((m) => m.node.status().leader)).toEqual([null, null]);
      expect(await timeElection(sim, timer)).toBeLessThanOrEqual(hintedElectionTicksMax);
      await finish(sim);
    },
  );
});

describe('the leader pauses', () => {
  it.each(seeds)('seed %i: nobody is told; the followers wait out an election timeout', async (seed) => {
    const { sim, leader } = await stableCluster(seed, calmParams({ crashResetPermille: 1000 }));
    const timer = new ElectionTimer();
    timer.leaderLost(leader.id, leader.node.status().term, sim.now);
    leader.pause();
    expect(await timeElection(sim, timer)).toBeGreaterThanOrEqual(electionTicks);
    expect(sim.stats().faults.resets).toBe(0);
    await finish(sim);
  });
});
