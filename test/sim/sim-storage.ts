/**
 * One member's durable storage in the simulator: the stored snapshot, the log after it and the
 * hard state, written by the Ready contract. A write without fsync stays volatile until the next
 * synced write and is lost by a crash. It checks the contract and throws when the core breaks it;
 * it never repairs what it is given.
 */
import type { DurableState, Entry, HardState, Ready, Snapshot } from '../../src/raft/types.js';

const emptyHardState: HardState = { term: 0, vote: null, commit: 0 };

/** What a member's storage has done, for summaries. */
export interface StorageCounts {
  writes: number;
  syncs: number;
  compactions: number;
  lostWrites: number;
}

/** One member's durable storage; it outlives the member's crashes. */
export class SimStorage {
  #hardState: HardState = emptyHardState;
  #snapshot: Snapshot | null = null;
  // Invariant: contiguous, starting at snapshot index + 1.
  #entries: Entry[] = [];
  // A hard state written without fsync: visible to reads, gone after a crash.
  #volatileHardState: HardState | null = null;
  readonly counts: StorageCounts = { writes: 0, syncs: 0, compactions: 0, lostWrites: 0 };

  /** Step 1 of a Ready: the snapshot replaces the log, entries replace the suffix, then the hard state. */
  persist(rd: Ready): void {
    this.counts.writes++;
    if (rd.snapshot !== null) {
      this.#snapshot = rd.snapshot;
      this.#entries = [];
    }
    if (rd.entries.length > 0) this.#appendEntries(rd.entries);
    const durableBefore = this.#hardState;
    if (rd.hardState !== null) {
      const hs = rd.hardState;
      if (hs.term < this.hardState().term) {
        throw new Error(`storage: hard state term goes back from ${this.hardState().term} to ${hs.term}`);
      }
      if (hs.commit > this.lastIndex()) {
        throw new Error(
          `storage: hard state commit ${hs.commit} above the stored log (last ${this.lastIndex()})`,
        );
      }
      const changesVote = hs.term !== durableBefore.term || hs.vote !== durableBefore.vote;
      if (changesVote && !rd.mustSync) {
        throw new Error(`storage: term or vote changed (${hs.term}, ${hs.vote}) in a Ready without mustSync`);
      }
      if (rd.mustSync) this.#hardState = hs;
      else this.#volatileHardState = hs;
    }
    if (rd.entries.length > 0 && !rd.mustSync) {
      throw new Error(`storage: entries ${rd.entries[0]!.index}.. in a Ready without mustSync`);
    }
    if (rd.mustSync) {
      this.counts.syncs++;
      if (rd.hardState === null && this.#volatileHardState !== null)
        this.#hardState = this.#volatileHardState;
      this.#volatileHardState = null;
    }
  }

  /**
   * The application made a snapshot of its state machine at `snapshot.meta.index` (at most the
   * applied index, so within the stored log): store it and drop the log up to it. Durable at once.
   */
  compact(snapshot: Snapshot): void {
    const { index, term } = snapshot.meta;
    const firstIndex = this.firstIndex();
    if (index < firstIndex) return;
    const entry = this.#entries[index - firstIndex];
    if (entry === undefined) {
      throw new Error(`storage: snapshot at ${index} beyond the stored log (last ${this.lastIndex()})`);
    }
    if (entry.term !== term) {
      throw new Error(
        `storage: snapshot at ${index} has term ${term} but the stored entry has term ${entry.term}`,
      );
    }
    this.#snapshot = snapshot;
    this.#entries = this.#entries.slice(index - firstIndex + 1);
    this.counts.compactions++;
  }

  /** The process died: writes that were never synced are gone. */
  crash(): void {
    if (this.#volatileHardState !== null) this.counts.lostWrites++;
    this.#volatileHardState = null;
  }

  /** What the member reads back when it restarts. */
  load(): DurableState {
    return { hardState: this.#hardState, snapshot: this.#snapshot, entries: [...this.#entries] };
  }

  hardState(): HardState {
    return this.#volatileHardState ?? this.#hardState;
  }

  snapshot(): Snapshot | null {
    return this.#snapshot;
  }

  /** The index of the first stored entry after the snapshot. */
  firstIndex(): number {
    return (this.#snapshot?.meta.index ?? 0) + 1;
  }

  lastIndex(): number {
    return this.firstIndex() + this.#entries.length - 1;
  }

  /** The term of the last stored entry (the snapshot's when the log after it is empty). */
  lastTerm(): number {
    return this.#entries.at(-1)?.term ?? this.#snapshot?.meta.term ?? 0;
  }

  /** The term of the stored entry at `index`, the snapshot's at its index, or null. */
  term(index: number): number | null {
    const snapshotIndex = this.firstIndex() - 1;
    if (index === snapshotIndex) return this.#snapshot?.meta.term ?? 0;
    return this.#entries[index - snapshotIndex - 1]?.term ?? null;
  }

  #appendEntries(entries: readonly Entry[]): void {
    const first = entries[0]!.index;
    const firstIndex = this.firstIndex();
    if (first < firstIndex) {
      throw new Error(
        `storage: entries from ${first} overwrite the stored snapshot (index ${firstIndex - 1})`,
      );
    }
    if (first > this.lastIndex() + 1) {
      throw new Error(
        `storage: entries from ${first} leave a gap after the stored log (last ${this.lastIndex()})`,
      );
    }
    for (const [i, entry] of entries.entries()) {
      if (entry.index !== first + i) {
        throw new Error(`storage: entries not contiguous: ${entry.index} follows ${first + i - 1}`);
      }
    }
    this.#entries.length = first - firstIndex;
    for (const entry of entries) this.#entries.push(entry);
  }
}
