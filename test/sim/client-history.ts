/**
 * What the simulated clients were told: acknowledged writes and served reads. It checks that
 * every ReadIndex answer is linearizable against the writes acknowledged before the read was
 * issued, and, at the end, that no acknowledged write was lost. It only observes.
 */
import type { Index, NodeId, Term } from '../../src/raft/types.js';
import type { SafetyChecker } from './safety-checker.js';
import { SafetyViolation } from './safety-violation.js';
import type { SimMember } from './sim-member.js';
import { describeEntry, encodeWrite } from './sim-state-machine.js';

/** A write a member proposed and a client waits on. */
export interface PendingWrite {
  readonly id: number;
  readonly key: string;
  readonly value: string;
  readonly index: Index;
  readonly term: Term;
  readonly member: NodeId;
  /** Set once the write is acknowledged, failed or given up on; nothing happens to it after that. */
  done: boolean;
}

/** A linearizable read a member accepted and a client waits on. */
export interface PendingRead {
  readonly ctx: string;
  readonly key: string;
  readonly member: NodeId;
  /** The highest log index of a write acknowledged before this read was issued. */
  readonly ackedIndexMax: Index;
  done: boolean;
}

/** The answer to a read, served once the member applied at least the read index. */
export interface ReadAnswer {
  readonly readIndex: Index;
  readonly applied: Index;
  readonly value: string | null;
}

/** Tallies of client outcomes, for summaries. */
export interface ClientCounts {
  writesAcked: number;
  writesFailed: number;
  readsServed: number;
  readsFailed: number;
}

/** The record of client outcomes; checks each read as it is served and, at the end, every acknowledged write. */
export class ClientHistory {
  // Invariant: every write here was applied by its proposer at the index and term propose() returned.
  readonly #acked: PendingWrite[] = [];
  #ackedIndexMax: Index = 0;
  readonly counts: ClientCounts = { writesAcked: 0, writesFailed: 0, readsServed: 0, readsFailed: 0 };

  /** The highest log index of any write acknowledged so far; a read issued now must see it. */
  get ackedIndexMax(): Index {
    return this.#ackedIndexMax;
  }

  onWriteDone(write: PendingWrite, acked: boolean): void {
    if (!acked) {
      this.counts.writesFailed++;
      return;
    }
    this.counts.writesAcked++;
    this.#acked.push(write);
    if (write.index > this.#ackedIndexMax) this.#ackedIndexMax = write.index;
  }

  /** §6.4: the state a read is served from includes every write acknowledged before it was issued. */
  onReadDone(read: PendingRead, answer: ReadAnswer | null): void {
    if (answer === null) {
      this.counts.readsFailed++;
      return;
    }
    this.counts.readsServed++;
    if (answer.applied < read.ackedIndexMax) {
      throw new SafetyViolation(
        'linearizable read',
        ` ${read.member} served read ${read.ctx} of ${read.key} at applied ${answer.applied} ` +
          `(read index ${answer.readIndex}), but a write at ${read.ackedIndexMax} was acknowledged before it was issued`,
      );
    }
  }

  /** At the end: every acknowledged write is in the canonical applied sequence and applied by every member. */
  checkNoneLost(members: readonly SimMember[], safety: SafetyChecker): void {
    for (const write of this.#acked) {
      const digest = safety.appliedDigest(write.index);
      const data = encodeWrite(write);
      const expected = describeEntry({ index: write.index, term: write.term, kind: 'command', data });
      if (digest !== expected) {
        throw new SafetyViolation(
          'lost acknowledged write',
          `${expected} was acknowledged, but ${digest ?? 'nothing'} was applied there`,
        );
      }
    }
    for (const member of members) {
      if (!member.isUp || member.machine.applied < this.#ackedIndexMax) {
        throw new SafetyViolation(
          'lost acknowledged write',
          `${member.id} applied only up to ${member.isUp ? member.machine.applied : '(down)'}, ` +
            `a write at ${this.#ackedIndexMax} was acknowledged`,
        );
      }
    }
  }
}
