/**
 * What a leader knows of one follower's log (§5.3 nextIndex/matchIndex) and how it sends to it:
 * `probe` sends one append at a time until it finds where the logs agree, `replicate` pipelines
 * appends up to a bounded in-flight window, `snapshot` waits for a snapshot to be installed.
 */

import { invariant } from './invariant.js';
import type { Index } from './types.js';

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

/** The last indexes of the appends in flight to one follower, oldest first; at most `max`. */
export class Inflights {
  readonly #max: number;
  #lastIndexes: Index[] = [];

  constructor(max: number) {
    invariant(max >= 1, 'inflightMax must be at least 1');
    this.#max = max;
  }

  add(lastIndex: Index): void {
    invariant(!this.full(), 'inflight window overflow');
    this.#lastIndexes.push(lastIndex);
  }

  /** Frees every append whose entries are all acknowledged by `index`. */
  freeLE(index: Index): void {
    let k = 0;
    while (k < this.#lastIndexes.length && this.#lastIndexes[k]! <= index) k++;
    if (k > 0) this.#lastIndexes.splice(0, k);
  }

  freeFirst(): void {
    this.#lastIndexes.shift();
  }

  full(): boolean {
    return this.#lastIndexes.length >= this.#max;
  }

  count(): number {
    return this.#lastIndexes.length;
  }

  reset(): void {
    this.#lastIndexes = [];
  }
}

export class Progress {
  // Invariant: match < next.
  match: Index = 0;
  next: Index;
  state: ProgressState = 'probe';
  /** In probe state: an append is outstanding, wait for its answer or the next heartbeat reply. */
  probeSent = false;
  /** In snapshot state: the index of the snapshot sent, and ticks spent waiting for it. */
  pendingSnapshot: Index = 0;
  snapshotTicks = 0;
  /** Heard from since the last check-quorum round. */
  recentActive = false;
  /** The highest commit index our messages have let this follower apply (for commit propagation). */
  sentCommit: Index = 0;
  readonly inflights: Inflights;

  constructor(next: Index, inflightMax: number) {
    this.next = next;
    this.inflights = new Inflights(inflightMax);
  }

  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }

  becomeProbe(): void {
    this.next =
      this.state === 'snapshot' ? Math.max(this.match + 1, this.pendingSnapshot + 1) : this.match + 1;
    this.#reset('probe');
  }

  becomeReplicate(): void {
    this.next = this.match + 1;
    this.#reset('replicate');
  }

  becomeSnapshot(index: Index): void {
    this.#reset('snapshot');
    this.pendingSnapshot = index;
  }

  #reset(state: ProgressState): void {
    this.state = state;
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.snapshotTicks = 0;
    this.inflights.reset();
  }

  /** An append up to `index` succeeded; returns whether match moved. */
  maybeUpdate(index: Index): boolean {
    const updated = index > this.match;
    if (updated) {
      this.match = index;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, index + 1);
    return updated;
  }

  /**
   * An append with prevIndex `rejected` failed; `nextHint` is where the conflict hint says to
   * retry. Returns false for a stale rejection that says nothing new.
   */
  maybeDecrTo(rejected: Index, nextHint: Index): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, nextHint), this.match + 1);
    this.probeSent = false;
    return true;
  }

  /** Records an append ending at `lastIndex` as sent. */
  sentEntries(lastIndex: Index): void {
    if (this.state === 'replicate') {
      this.next = lastIndex + 1;
      this.inflights.add(lastIndex);
    }
  }
}
