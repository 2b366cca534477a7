/**
 * The fault schedule of the safety phase: crashes (at a chosen point of Ready handling), restarts,
 * pauses, partitions of several shapes and leadership transfers, each drawn per tick at the
 * seed's rates, among the members not gone for good (membership changes add and end members).
 * It reports when a fault takes the leader away, so elections can be timed.
 */
import type { NodeId } from '../../src/raft/types.js';
import type { ElectionTimer } from './election-timer.js';
import { crashPoints, type SimMember } from './sim-member.js';
import type { SimNetwork } from './sim-network.js';
import type { SimRandom } from './sim-random.js';
import type { SwarmParams } from './swarm-params.js';

/** The shapes of partition the safety phase draws from. */
export type PartitionKind = 'isolateOne' | 'isolateLeader' | 'split' | 'asymmetric' | 'pair';

const partitionKinds: readonly PartitionKind[] = [
  'isolateOne',
  'isolateLeader',
  'split',
  'asymmetric',
  'pair',
];

/** Draws the faults of each tick of the safety phase; `act` once per tick, before anything else. */
export class FaultInjector {
  readonly #random: SimRandom;
  readonly #params: SwarmParams;
  readonly #active: () => readonly SimMember[];
  #members: readonly SimMember[] = [];
  #ids: readonly NodeId[] = [];
  readonly #network: SimNetwork;
  readonly #elections: ElectionTimer;
  readonly #trace: ((line: string) => void) | null;
  #leaderTermLast = 0;
  readonly counts = { crashes: 0, restarts: 0, pauses: 0, partitions: 0, transfers: 0 };

  constructor(opts: {
    random: SimRandom;
    params: SwarmParams;
    /** Every member not gone for good, in creation order; read anew each tick. */
    members: () => readonly SimMember[];
    network: SimNetwork;
    elections: ElectionTimer;
    trace: ((line: string) => void) | null;
  }) {
    this.#random = opts.random;
    this.#params = opts.params;
    this.#active = opts.members;
    this.#network = opts.network;
    this.#elections = opts.elections;
    this.#trace = opts.trace;
  }

  /** Draws this tick's faults; a restart loads the member from its storage. */
  async act(now: number): Promise<void> {
    const p = this.#params;
    this.#members = this.#active();
    this.#ids = this.#members.map((m) => m.id);
    this.#maybeStrikeNewLeader(now);
    if (this.#downCount() < p.downMax && this.#random.chance(p.crashPermille)) {
      const member = this.#victim();
      if (member !== null) this.#crash(member, now);
    }
    const down = this.#members.filter((m) => !m.isUp);
    if (down.length > 0 && this.#random.chance(p.restartPermille)) {
      const member = this.#random.pick(down);
      this.#trace?.(`${member.id} restart`);
      await member.start();
      this.counts.restarts++;
    }
    if (this.#downCount() < p.downMax && this.#random.chance(p.pausePermille)) {
      const member = this.#victim();
      if (member !== null) {
        this.#noteLeaderLoss(member, now);
        this.#trace?.(`${member.id} pause`);
        member.pause();
        this.counts.pauses++;
      }
    }
    const paused = this.#members.filter((m) => m.isPaused);
    if (paused.length > 0 && this.#random.chance(p.resumePermille)) {
      const member = this.#random.pick(paused);
      this.#trace?.(`${member.id} resume`);
      member.resume();
    }
    if (this.#network.isPartitioned()) {
      if (this.#random.chance(p.partitionHealPermille)) {
        this.#trace?.('partition healed');
        this.#network.heal();
      }
    } else if (this.#random.chance(p.partitionPermille) && this.#ids.length > 1) {
      this.#partition(now);
    }
    if (this.#random.chance(p.transferPermille)) this.#transfer();
  }

  /** Members crashed or paused. */
  #downCount(): number {
    return this.#members.reduce((n, m) => (m.isRunning && !m.isCrashPending ? n : n + 1), 0);
  }

  /**
   * The member a crash or pause strikes: the leader one time in three and a candidate (a leader
   * about to be) one time in three, when there is one; else anyone running (null if none is).
   */
  #victim(): SimMember | null {
    const running = this.#members.filter((m) => m.isRunning && !m.isCrashPending);
    if (running.length === 0) return null;
    const roll = this.#random.int(3);
    const role = roll === 0 ? 'leader' : roll === 1 ? 'candidate' : null;
    const inRole = role === null ? [] : running.filter((m) => m.node.status().role === role);
    return this.#random.pick(inRole.length > 0 ? inRole : running);
  }

  #crash(member: SimMember, now: number): void {
    const point = this.#random.pick(crashPoints);
    this.counts.crashes++;
    if (point === 'idle') {
      this.#trace?.(`${member.id} crash idle`);
      member.crash();
    } else {
      this.#trace?.(`${member.id} will crash ${point}`);
      member.crashAt(point, now + 2 * this.#params.tuning.electionTicks);
    }
  }

  #partition(now: number): void {
    const kind = this.#random.pick(partitionKinds);
    const ids = this.#ids;
    this.counts.partitions++;
    switch (kind) {
      case 'isolateOne':
      case 'isolateLeader': {
        const leader = this.#members.find((m) => m.isRunning && m.node.status().role === 'leader');
        const id = kind === 'isolateLeader' && leader !== undefined ? leader.id : this.#random.pick(ids);
        this.#network.isolate(id, ids);
        break;
      }
      case 'split': {
        const shuffled = this.#random.shuffle(ids);
        const cut = this.#random.between(1, ids.length - 1);
        this.#network.partition([shuffled.slice(0, cut), shuffled.slice(cut)]);
        break;
      }
      case 'asymmetric': {
        const links = this.#random.between(1, ids.length);
        for (let i = 0; i < links; i++) this.#network.block(this.#random.pick(ids), this.#random.pick(ids));
        break;
      }
      case 'pair': {
        const [a, b] = this.#random.shuffle(ids);
        this.#network.partition([[a!], [b!]]);
        break;
      }
    }
    this.#trace?.(`partition ${kind}: blocked ${this.#network.blockedLinks().join(' ') || 'nothing'}`);
    for (const member of this.#members) {
      if (member.isRunning && member.node.status().role === 'leader' && this.#cutFromMajority(member.id)) {
        this.#noteLeaderLoss(member, now);
      }
    }
  }

  /** True when `id` can no longer exchange messages both ways with a majority, itself included. */
  #cutFromMajority(id: NodeId): boolean {
    const reachable = this.#ids.filter(
      (other) => other === id || (!this.#network.isBlocked(id, other) && !this.#network.isBlocked(other, id)),
    );
    return reachable.length <= this.#ids.length / 2;
  }

  /**
   * A leader elected since the last tick may be cut off at once, before its no-op reaches
   * anyone: the way logs come to hold entries of a term that never commits (Figure 8).
   */
  #maybeStrikeNewLeader(now: number): void {
    for (const member of this.#members) {
      const status = member.status();
      if (status === null || status.role !== 'leader' || status.term <= this.#leaderTermLast) continue;
      this.#leaderTermLast = status.term;
      if (!member.isRunning || !this.#random.chance(this.#params.newLeaderStrikePermille)) continue;
      this.#network.isolate(member.id, this.#ids);
      this.counts.partitions++;
      this.#trace?.(`partition isolateNewLeader: blocked ${this.#network.blockedLinks().join(' ')}`);
      this.#noteLeaderLoss(member, now);
    }
  }

  #transfer(): void {
    const leader = this.#members.find((m) => m.isRunning && m.node.status().role === 'leader');
    const others = this.#ids.filter((id) => id !== leader?.id);
    if (leader === undefined || others.length === 0) return;
    const to = this.#random.pick(others);
    const result = leader.node.transferLeadership(to);
    this.counts.transfers++;
    this.#trace?.(`${leader.id} transfer leadership to ${to}: ${result.ok ? 'ok' : result.reason}`);
  }

  #noteLeaderLoss(member: SimMember, now: number): void {
    const status = member.status();
    if (status !== null && status.role === 'leader') this.#elections.leaderLost(member.id, status.term, now);
  }
}
