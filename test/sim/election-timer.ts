/**
 * Measures elections in ticks: from the moment the cluster loses its leader (crashed, paused or
 * cut off) until a new leader is known to as many running members as make a majority of its voters. A loss the old leader recovers from in the
 * same term, before anyone else is elected, is no election and is not counted.
 */
import type { NodeId, Term } from '../../src/raft/types.js';
import type { SimMember } from './sim-member.js';

interface LeaderLoss {
  readonly id: NodeId;
  readonly term: Term;
  readonly tick: number;
}

/** Times one election at a time; a loss while one is being timed extends it. */
export class ElectionTimer {
  #loss: LeaderLoss | null = null;
  /** The ticks each counted election took. */
  readonly durationsTicks: number[] = [];

  /** The leader `id` of `term` stopped leading at `tick`; a loss already being timed keeps its start. */
  leaderLost(id: NodeId, term: Term, tick: number): void {
    if (this.#loss === null) this.#loss = { id, term, tick };
  }

  /** After every step: has a leader become known to a majority since the loss? */
  observe(tick: number, members: readonly SimMember[]): void {
    const loss = this.#loss;
    if (loss === null) return;
    for (const member of members) {
      if (!member.isRunning) continue;
      const status = member.node.status();
      if (status.role !== 'leader') continue;
      const quorum = Math.floor(status.conf.voters.length / 2) + 1;
      let knownBy = 0;
      for (const other of members) {
        if (!other.isRunning) continue;
        const seen = other.node.status();
        if (seen.leader === status.id && seen.term === status.term) knownBy++;
      }
      if (knownBy < quorum) continue;
      this.#loss = null;
      if (status.id !== loss.id || status.term !== loss.term) this.durationsTicks.push(tick - loss.tick);
      return;
    }
  }
}

/** The median and the largest of `values` (0 and 0 when empty). */
export function medianAndMax(values: readonly number[]): { median: number; max: number } {
  if (values.length === 0) return { median: 0, max: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, max: sorted.at(-1)! };
}
