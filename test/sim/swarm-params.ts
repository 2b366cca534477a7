/**
 * Swarm testing (TigerBeetle's VOPR): the seed chooses the cluster, which faults are on and how
 * often they strike, the client load and the snapshot threshold, so that many seeds explore many
 * mixes. Timeouts stay at raftkv's defaults in every seed, so election times are comparable.
 */
import { defaultRaftTuning, type RaftConfig } from '../../src/raft/types.js';
import type { NetworkFaults } from './sim-network.js';
import { forkSeed, SimRandom } from './sim-random.js';

/** Everything a seed decides about a run. Rates are per tick, in permille, unless said otherwise. */
export interface SwarmParams {
  readonly memberCount: 3 | 5;
  readonly tuning: Omit<RaftConfig, 'id' | 'voters'>;
  readonly network: NetworkFaults;
  readonly crashPermille: number;
  readonly restartPermille: number;
  readonly pausePermille: number;
  readonly resumePermille: number;
  readonly partitionPermille: number;
  readonly partitionHealPermille: number;
  /** Chance, per election, that the new leader is cut off from everyone at once. */
  readonly newLeaderStrikePermille: number;
  /** The most members crashed or paused at once during the safety phase. */
  readonly downMax: number;
  /** A member snapshots once this many entries were applied since its last snapshot (GroupTuning). */
  readonly snapshotEntries: number;
  readonly clientCount: number;
  /** Chance per tick that an idle client issues its next request. */
  readonly requestPermille: number;
  /** The share of requests that are reads, in permille. */
  readonly readPermille: number;
  readonly keyCount: number;
  /** A client gives up on a request after this many ticks (its outcome stays unknown). */
  readonly requestTimeoutTicks: number;
  readonly transferPermille: number;
  /** Chance per tick that the operator changes the membership (when no replace is under way); 0 in some seeds. */
  readonly membershipPermille: number;
  /**
   * Chance that a crash resets its connections, so that the other members are told the peer is
   * gone (Node.peerGone); otherwise it looks like a lost host, whose connections fall silent.
   */
  readonly crashResetPermille: number;
  /**
   * Chance per tick that a running member is told its leader is gone while the leader lives:
   * only that member's connections to it were reset. 0 in some seeds.
   */
  readonly spuriousResetPermille: number;
}

/** The stream of the seed's random source that chooses the parameters. */
const paramsStream = 0;

/** The parameters seed `seed` chooses. */
export function swarmParams(seed: number): SwarmParams {
  const random = new SimRandom(forkSeed(seed, paramsStream));
  const memberCount = random.pick([3, 5] as const);
  const faultTolerance = Math.floor((memberCount - 1) / 2);
  const delayTicksMax = random.pick([1, 2, 3, 5]);
  const params = {
    memberCount,
    tuning: {
      ...defaultRaftTuning,
      inflightMax: random.pick([1, 4, defaultRaftTuning.inflightMax]),
      batchBytesMax: random.pick([1, 1, 64, 256, defaultRaftTuning.batchBytesMax]),
      uncommittedEntriesMax: random.pick([64, defaultRaftTuning.uncommittedEntriesMax]),
      preVote: random.chance(850),
      checkQuorum: random.chance(850),
    },
    network: {
      dropPermille: random.pick([0, 0, 10, 50, 150]),
      duplicatePermille: random.pick([0, 0, 20, 100]),
      reorderPermille: random.pick([0, 0, 50, 200]),
      delayTicksMin: 1,
      delayTicksMax,
    },
    crashPermille: random.pick([0, 2, 5, 10, 20, 30]),
    restartPermille: random.pick([20, 50, 100]),
    pausePermille: random.pick([0, 0, 3, 8]),
    resumePermille: random.pick([20, 60]),
    partitionPermille: random.pick([0, 3, 8, 15]),
    partitionHealPermille: random.pick([10, 30, 80]),
    newLeaderStrikePermille: random.pick([0, 150, 300, 500]),
    downMax: random.chance(300) ? memberCount : faultTolerance,
    snapshotEntries: random.between(9, 65),
    clientCount: random.between(1, 4),
    requestPermille: random.pick([100, 300, 700]),
    readPermille: random.pick([200, 500, 800]),
    keyCount: random.between(1, 8),
    requestTimeoutTicks: 60,
    transferPermille: random.pick([0, 0, 3, 10]),
  };
  // Drawn last, so the choices above stay what each seed chose before membership changes and
  // reset connections existed.
  const membershipPermille = random.pick([0, 0, 5, 15, 40]);
  const promoteLagMax = random.pick([8, 64, defaultRaftTuning.promoteLagMax]);
  const crashResetPermille = random.pick([0, 500, 1000, 1000]);
  const spuriousResetPermille = random.pick([0, 0, 10, 30]);
  return {
    ...params,
    tuning: { ...params.tuning, promoteLagMax },
    membershipPermille,
    crashResetPermille,
    spuriousResetPermille,
  };
}

/** One line naming what a seed chose, for traces and failure reports. */
export function describeParams(p: SwarmParams): string {
  const n = p.network;
  return (
    `members=${p.memberCount} drop=${n.dropPermille}‰ dup=${n.duplicatePermille}‰ reorder=${n.reorderPermille}‰ ` +
    `delay=${n.delayTicksMin}-${n.delayTicksMax} crash=${p.crashPermille}‰ pause=${p.pausePermille}‰ ` +
    `partition=${p.partitionPermille}‰ newLeaderStrike=${p.newLeaderStrikePermille}‰ downMax=${p.downMax} snapshotEntries=${p.snapshotEntries} ` +
    `clients=${p.clientCount} transfer=${p.transferPermille}‰ inflightMax=${p.tuning.inflightMax} ` +
    `batchBytesMax=${p.tuning.batchBytesMax} uncommittedEntriesMax=${p.tuning.uncommittedEntriesMax} ` +
    `preVote=${p.tuning.preVote} checkQuorum=${p.tuning.checkQuorum} membership=${p.membershipPermille}‰ ` +
    `promoteLagMax=${p.tuning.promoteLagMax} crashReset=${p.crashResetPermille}‰ spuriousReset=${p.spuriousResetPermille}‰`
  );
}
