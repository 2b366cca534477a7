/**
 * No disruption by spurious resets: a member told that its leader is gone while the leader lives
 * (only its own connections were reset) must not depose it while a majority hears it (thesis
 * §9.6 pre-vote, §4.2.3 the voters' lease; Raft.peerGone). After every step it watches the
 * running leaders. One deposed while running, whose next term was first taken by a member that a
 * spurious reset had told shortly before that this leader was gone, fails the run as a
 * disruption when the leader had led long enough before the reset, and nothing else that may
 * change leaders (a crash, restart, pause, resume, partition, transfer or membership change)
 * happened from then on. It only observes.
 */
import type { NodeId, Term } from '../../src/raft/types.js';
import type { SimMember } from './sim-member.js';

interface SpuriousReset {
  readonly to: NodeId;
  readonly peer: NodeId;
  readonly tick: number;
}

/** The member seen first in a term, and when. */
interface TermRaise {
  readonly id: NodeId;
  readonly tick: number;
}

/** A running leader, and since when it leads. */
interface Leading {
  readonly term: Term;
  readonly sinceTick: number;
}

/** Fed the spurious resets and, after every step, the members; throws `disruption: …`. */
export class DisruptionCheck {
  /**
   * The same leader and no fault this many ticks before a spurious reset, nor since, for it to
   * be blamed: a lease plus the longest flight, so every voter heard that leader and no message
   * of an earlier campaign (a late pre-vote grant) is still on its way.
   */
  readonly #quietTicks: number;
  /** A reset is blamed for a term taken this many ticks after it at most. */
  readonly #blameTicks: number;
  /** Running leaders at the last step, with their terms. */
  #leaders = new Map<NodeId, Leading>();
  #termMax: Term = 0;
  readonly #raises = new Map<Term, TermRaise>();
  #resets: SpuriousReset[] = [];
  #unrest: string | null = null;
  #unrestTick = 0;
  /** Leaders deposed while running with no fault in the last `quietTicks`, for summaries. */
  calmLeaderChanges = 0;

  constructor(opts: { readonly electionTicks: number; readonly flightTicksMax: number }) {
    this.#quietTicks = opts.electionTicks + opts.flightTicksMax;
    this.#blameTicks = 3 * opts.electionTicks;
  }

  /** `to` was told, at tick `now`, that `peer` is gone while `peer` lives. */
  spuriousReset(to: NodeId, peer: NodeId, now: number): void {
    this.#resets.push({ to, peer, tick: now });
  }

  /**
   * After every step. `unrest` names everything that may change leaders but a spurious reset
   * (who runs, transfers and membership changes so far); a change of it, or a partition in
   * place, is a fault at this tick.
   */
  observe(now: number, members: readonly SimMember[], unrest: string, partitioned: boolean): void {
    if (partitioned || unrest !== this.#unrest) this.#unrestTick = now;
    this.#unrest = unrest;
    const running = members.filter((m) => m.isRunning);
    for (const m of running) {
      const { term } = m.node.status();
      if (term > this.#termMax) {
        for (let t = this.#termMax + 1; t <= term; t++) this.#raises.set(t, { id: m.id, tick: now });
        this.#termMax = term;
      }
    }
    const leaders = new Map<NodeId, Leading>();
    for (const m of running) {
      const { role, term } = m.node.status();
      const led = this.#leaders.get(m.id);
      const same = led !== undefined && role === 'leader' && term === led.term;
      if (led !== undefined && !same) this.#deposed(m.id, led, now);
      if (role === 'leader') leaders.set(m.id, same ? led : { term, sinceTick: now });
    }
    this.#leaders = leaders;
    this.#forget(now);
  }

  #deposed(id: NodeId, { term, sinceTick }: Leading, now: number): void {
    if (now - this.#unrestTick < this.#quietTicks) return;
    this.calmLeaderChanges++;
    const raise = this.#raises.get(term + 1);
    if (raise === undefined) return;
    const blamed = this.#resets.find(
      (r) =>
        r.peer === id &&
        r.to === raise.id &&
        r.tick <= raise.tick &&
        raise.tick - r.tick <= this.#blameTicks &&
        r.tick - Math.max(this.#unrestTick, sinceTick) > this.#quietTicks,
    );
    if (blamed === undefined) return;
    throw new Error(
      `disruption: ${id}, leader of term ${term}, alive and heard by a majority, was deposed at tick ${now}: ` +
        `${raise.id} took term ${term + 1} at tick ${raise.tick}, ${raise.tick - blamed.tick} ticks after a ` +
        `spurious reset told it ${id} was gone; ${id} led since tick ${sinceTick}, and no crash, restart, ` +
        `pause, partition, transfer or membership change happened since tick ${this.#unrestTick}`,
    );
  }

  /** Drops what can no longer be blamed. */
  #forget(now: number): void {
    const horizon = now - this.#quietTicks - this.#blameTicks;
    if (this.#resets.length > 0 && this.#resets[0]!.tick < horizon) {
      this.#resets = this.#resets.filter((r) => r.tick >= horizon);
    }
    for (const [term, raise] of this.#raises) {
      if (raise.tick >= horizon) break;
      this.#raises.delete(term);
    }
  }
}
