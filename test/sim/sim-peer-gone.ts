/**
 * What a node's peer presence reports (Node.peerGone): every connection to a peer was refused or
 * reset at once. A crashed process resets its connections, so each other member hears of it
 * after a network delay, unless the link between them is blocked or the seed made the crash a
 * lost host (silent, as a pause always is). A spurious reset tells a running member that its
 * leader is gone while the leader lives: only that member's connections to it were reset. Every
 * choice comes from its own seeded stream; it knows nothing of Raft beyond who follows whom.
 */
import type { NodeId } from '../../src/raft/types.js';
import type { SimMember } from './sim-member.js';
import type { SimNetwork } from './sim-network.js';
import type { SimRandom } from './sim-random.js';
import type { SwarmParams } from './swarm-params.js';

/** Notices heard by a running member, for summaries. */
export interface ResetCounts {
  /** That a crashed member is gone. */
  resets: number;
  /** That a member which lives is gone. */
  spuriousResets: number;
}

interface Notice {
  readonly to: NodeId;
  readonly peer: NodeId;
}

/** Schedules and delivers the notices of one run; `deliverDue` once per tick. */
export class PeerGoneNotices {
  readonly #random: SimRandom;
  readonly #params: SwarmParams;
  readonly #members: () => readonly SimMember[];
  readonly #network: SimNetwork;
  readonly #spurious: (to: NodeId, peer: NodeId, now: number) => void;
  readonly #trace: ((line: string) => void) | null;
  // Invariant: every key is a tick later than the last tick passed to deliverDue().
  readonly #due = new Map<number, Notice[]>();
  readonly counts: ResetCounts = { resets: 0, spuriousResets: 0 };

  constructor(opts: {
    random: SimRandom;
    params: SwarmParams;
    /** Every member not gone for good; read anew at each crash and tick. */
    members: () => readonly SimMember[];
    network: SimNetwork;
    /** A spurious reset was heard by `to`. */
    spurious: (to: NodeId, peer: NodeId, now: number) => void;
    trace: ((line: string) => void) | null;
  }) {
    this.#random = opts.random;
    this.#params = opts.params;
    this.#members = opts.members;
    this.#network = opts.network;
    this.#spurious = opts.spurious;
    this.#trace = opts.trace;
  }

  /** `id` crashed at tick `now`: unless it is a lost host, every member it can reach hears of it later. */
  crashed(id: NodeId, now: number): void {
    if (!this.#random.chance(this.#params.crashResetPermille)) return;
    const { delayTicksMin, delayTicksMax } = this.#network.faults;
    for (const member of this.#members()) {
      if (member.id === id || this.#network.isBlocked(id, member.id)) continue;
      const tick = now + this.#random.between(Math.max(1, delayTicksMin), Math.max(1, delayTicksMax));
      const bucket = this.#due.get(tick);
      const notice = { to: member.id, peer: id };
      if (bucket === undefined) this.#due.set(tick, [notice]);
      else bucket.push(notice);
    }
  }

  /**
   * Tells the members the notices due at tick `now`; then, if `spurious`, maybe one spurious
   * reset at the seed's rate, to a running member that follows a leader which is up.
   */
  deliverDue(now: number, spurious: boolean): void {
    const due = this.#due.get(now) ?? [];
    this.#due.delete(now);
    const byId = new Map(this.#members().map((m) => [m.id, m]));
    for (const { to, peer } of due) {
      const member = byId.get(to);
      if (member === undefined || this.#network.isBlocked(peer, to) || !member.peerGone(peer)) continue;
      this.counts.resets++;
      this.#trace?.(`${to} told ${peer} is gone (connections reset)`);
    }
    if (!spurious || !this.#random.chance(this.#params.spuriousResetPermille)) return;
    const followers = [...byId.values()].filter((m) => {
      const leader = m.isRunning ? m.node.status().leader : null;
      return leader !== null && leader !== m.id && byId.get(leader)?.isUp === true;
    });
    if (followers.length === 0) return;
    const member = this.#random.pick(followers);
    const peer = member.node.status().leader!;
    member.peerGone(peer);
    this.counts.spuriousResets++;
    this.#trace?.(`${member.id} told ${peer} is gone, spuriously: only its own connections were reset`);
    this.#spurious(member.id, peer, now);
  }
}
