/**
 * RaftLog: one member's log as the core sees it: the latest snapshot, the entries after it in
 * memory, and three positions over them — stable (persisted), committed and applied. The shell
 * owns the durable copy; this view says what still has to be persisted, applied or can be dropped.
 * It knows nothing about roles or messages.
 */

import { decodeConf } from './conf.js';
import { invariant } from './invariant.js';
import type { ConfState, Entry, Index, Snapshot, Term } from './types.js';

/** Bytes an entry counts for in batching limits: its data plus a fixed allowance for its header. */
export function entryBytes(entry: Entry): number {
  return entry.data.byteLength + 16;
}

export class RaftLog {
  /** The latest snapshot; index 0 with empty data when the group never compacted. */
  snapshot: Snapshot;
  /** A snapshot received from a leader that the shell has yet to persist and install. */
  pendingSnapshot: Snapshot | null = null;
  // Invariant: entries[k].index === snapshot.meta.index + 1 + k, and terms never decrease.
  #entries: Entry[];
  // Invariant: snapshot.meta.index <= applied <= committed <= lastIndex(); stable <= lastIndex().
  committed: Index;
  applied: Index;
  /** Highest index the shell has persisted (as far as the core has been told through advance). */
  stable: Index;
  /**
   * The configuration in effect (thesis §4.1: the latest in the log, committed or not, else the
   * snapshot's) and the index of the entry or snapshot that holds it.
   */
  #conf: ConfState;
  #confIndex: Index;

  constructor(snapshot: Snapshot, entries: readonly Entry[], committed: Index, applied: Index) {
    this.snapshot = snapshot;
    this.#entries = [...entries];
    entries.forEach((e, k) => {
      invariant(e.index === snapshot.meta.index + 1 + k, `log not contiguous at index ${e.index}`);
      invariant(
        e.term >= (k === 0 ? snapshot.meta.term : entries[k - 1]!.term),
        `term decreases at ${e.index}`,
      );
    });
    this.stable = this.lastIndex();
    [this.#conf, this.#confIndex] = this.#latestConf(this.lastIndex());
    this.committed = Math.max(committed, snapshot.meta.index);
    this.applied = Math.max(applied, snapshot.meta.index);
    invariant(
      this.committed <= this.lastIndex(),
      `commit ${this.committed} beyond log end ${this.lastIndex()}`,
    );
    invariant(this.applied <= this.committed, `applied ${this.applied} beyond commit ${this.committed}`);
  }

  static empty(conf: ConfState): Snapshot {
    return {
      meta: { index: 0, term: 0, voters: conf.voters, learners: conf.learners },
      data: new Uint8Array(0),
    };
  }

  /** The configuration in effect: the latest in the log, committed or not. */
  conf(): ConfState {
    return this.#conf;
  }

  /** The index of the entry (or snapshot) holding conf(). */
  confIndex(): Index {
    return this.#confIndex;
  }

  /** The configuration in effect at `index` (not compacted away), for a snapshot taken there. */
  confAt(index: Index): ConfState {
    return this.#latestConf(index)[0];
  }

  /** The latest configuration at or before `index`, and where it is. */
  #latestConf(index: Index): [ConfState, Index] {
    for (let i = Math.min(index, this.lastIndex()); i > this.snapshot.meta.index; i--) {
      const e = this.#entries[i - this.firstIndex()]!;
      if (e.kind !== 'config') continue;
      const conf = decodeConf(e.data);
      invariant(conf !== null, `config entry ${i} does not hold a configuration`);
      return [conf, i];
    }
    const { voters, learners } = this.snapshot.meta;
    return [{ voters, learners }, this.snapshot.meta.index];
  }

  firstIndex(): Index {
    return this.snapshot.meta.index + 1;
  }

  lastIndex(): Index {
    return this.snapshot.meta.index + this.#entries.length;
  }

  lastTerm(): Term {
    return this.#entries.at(-1)?.term ?? this.snapshot.meta.term;
  }

  /** The term of the entry at `index`, or null when it is compacted away or beyond the end. */
  term(index: Index): Term | null {
    if (index === this.snapshot.meta.index) return this.snapshot.meta.term;
    if (index < this.snapshot.meta.index || index > this.lastIndex()) return null;
    return this.#entries[index - this.firstIndex()]!.term;
  }

  matchTerm(index: Index, term: Term): boolean {
    return this.term(index) === term;
  }

  /** §5.4.1: a candidate's log is at least as up-to-date as ours. */
  isUpToDate(lastIndex: Index, lastTerm: Term): boolean {
    return lastTerm > this.lastTerm() || (lastTerm === this.lastTerm() && lastIndex >= this.lastIndex());
  }

  /**
   * Entries in [lo, hi), stopping before `bytesMax` is exceeded but always at least one entry
   * when the range is not empty. `lo` must not be compacted.
   */
  slice(lo: Index, hi: Index, bytesMax = Number.POSITIVE_INFINITY): Entry[] {
    invariant(lo >= this.firstIndex(), `slice from compacted index ${lo}`);
    const end = Math.min(hi, this.lastIndex() + 1);
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i < end; i++) {
      const entry = this.#entries[i - this.firstIndex()]!;
      bytes += entryBytes(entry);
      if (out.length > 0 && bytes > bytesMax) break;
      out.push(entry);
    }
    return out;
  }

  /** Appends entries that continue or overwrite the uncommitted tail. Returns the new last index. */
  append(entries: readonly Entry[]): Index {
    const first = entries[0];
    if (first === undefined) return this.lastIndex();
    invariant(
      first.index > this.committed,
      `overwriting committed entry ${first.index} (commit ${this.committed})`,
    );
    invariant(first.index <= this.lastIndex() + 1, `gap before ${first.index} (last ${this.lastIndex()})`);
    this.#entries.length = first.index - this.firstIndex();
    this.stable = Math.min(this.stable, first.index - 1);
    // A configuration whose entry was just cut off no longer holds: the one before it does.
    if (this.#confIndex >= first.index) [this.#conf, this.#confIndex] = this.#latestConf(first.index - 1);
    for (const e of entries) {
      invariant(e.term >= this.lastTerm(), `term decreases at ${e.index}`);
      this.#entries.push(e);
      if (e.kind === 'config') {
        const conf = decodeConf(e.data);
        invariant(conf !== null, `config entry ${e.index} does not hold a configuration`);
        this.#conf = conf;
        this.#confIndex = e.index;
      }
    }
    return this.lastIndex();
  }

  /**
   * §5.3: if our log holds (prevIndex, prevTerm), makes it agree with `entries` after it and
   * moves the commit index; returns the index of the last entry now known to match the leader's,
   * or null when the consistency check fails.
   */
  maybeAppend(prevIndex: Index, prevTerm: Term, commit: Index, entries: readonly Entry[]): Index | null {
    if (!this.matchTerm(prevIndex, prevTerm)) return null;
    const lastNew = prevIndex + entries.length;
    const conflict = entries.findIndex((e) => !this.matchTerm(e.index, e.term));
    if (conflict >= 0) this.append(entries.slice(conflict));
    this.commitTo(Math.min(commit, lastNew));
    return lastNew;
  }

  /**
   * The conflict hint of a failed consistency check (§5.3, thesis §3.5): the term we hold at
   * `prevIndex` and the first index we hold of that term, or the index after our end with term 0
   * when our log is too short.
   */
  conflictHint(prevIndex: Index): { index: Index; term: Term } {
    if (prevIndex > this.lastIndex()) return { index: this.lastIndex() + 1, term: 0 };
    const term = this.term(prevIndex);
    invariant(term !== null, `conflict at compacted index ${prevIndex}`);
    let index = prevIndex;
    while (index - 1 > this.snapshot.meta.index && this.term(index - 1) === term) index--;
    return { index, term };
  }

  /** The index after the last entry we hold of `term` at or below `atMost`, or null if none. */
  nextAfterTerm(term: Term, atMost: Index): Index | null {
    for (let i = Math.min(atMost, this.lastIndex()); i >= this.snapshot.meta.index; i--) {
      const t = this.term(i)!;
      if (t === term) return i + 1;
      if (t < term) return null;
    }
    return null;
  }

  commitTo(index: Index): void {
    if (index <= this.committed) return;
    invariant(index <= this.lastIndex(), `commit ${index} beyond log end ${this.lastIndex()}`);
    this.committed = index;
  }

  /** §5.4.2 (Figure 8): commits `index` by counting only if its entry is of the leader's `term`. */
  maybeCommit(index: Index, term: Term): boolean {
    if (index > this.committed && this.term(index) === term) {
      this.commitTo(index);
      return true;
    }
    return false;
  }

  /** Entries not yet handed to the shell for persisting. */
  unstableEntries(): Entry[] {
    return this.stable >= this.lastIndex() ? [] : this.slice(this.stable + 1, this.lastIndex() + 1);
  }

  /** The shell persisted everything up to (index, term); ignored if the log changed meanwhile. */
  stableTo(index: Index, term: Term): void {
    if (this.matchTerm(index, term)) this.stable = Math.max(this.stable, index);
  }

  /** Committed entries not yet applied, up to `bytesMax` (at least one). */
  nextCommitted(bytesMax: number): Entry[] {
    const lo = this.#applyFrom();
    return this.committed < lo ? [] : this.slice(lo, this.committed + 1, bytesMax);
  }

  hasNextCommitted(): boolean {
    return this.committed >= this.#applyFrom();
  }

  /** A snapshot restored but not yet installed covers everything up to its index. */
  #applyFrom(): Index {
    return Math.max(this.applied, this.snapshot.meta.index) + 1;
  }

  appliedTo(index: Index): void {
    invariant(index <= this.committed, `applied ${index} beyond commit ${this.committed}`);
    this.applied = Math.max(this.applied, index);
  }

  /** Replaces the whole log with a snapshot from the leader (§7); the shell persists and installs it. */
  restore(snapshot: Snapshot): void {
    invariant(
      snapshot.meta.index > this.committed,
      `restoring snapshot ${snapshot.meta.index} at or below commit`,
    );
    this.snapshot = snapshot;
    this.pendingSnapshot = snapshot;
    this.#entries = [];
    this.committed = snapshot.meta.index;
    this.stable = snapshot.meta.index;
    [this.#conf, this.#confIndex] = this.#latestConf(snapshot.meta.index);
  }

  /** The shell installed the pending snapshot into its state machine. */
  snapshotInstalled(snapshot: Snapshot): void {
    if (this.pendingSnapshot === snapshot) this.pendingSnapshot = null;
    this.applied = Math.max(this.applied, snapshot.meta.index);
  }

  /** The application snapshotted its state at `index` (<= applied): drop the entries it covers. */
  compact(index: Index, data: Uint8Array): void {
    if (index <= this.snapshot.meta.index) return;
    invariant(index <= this.applied, `compacting ${index} beyond applied ${this.applied}`);
    const term = this.term(index)!;
    const { voters, learners } = this.confAt(index);
    this.#entries = this.#entries.slice(index - this.snapshot.meta.index);
    this.snapshot = { meta: { index, term, voters, learners }, data };
  }

  /** The in-memory entries after the snapshot, for status pages and checkers. */
  entries(): readonly Entry[] {
    return this.#entries;
  }
}
