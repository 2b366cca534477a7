/**
 * One shard replica's recent changes, for watchers (README "Watching changes"): every put and
 * delete its state machine applied, in log order, kept within bounds (a count, a byte size and an
 * age) so that a watcher that reconnects can resume from a cursor. Only applied entries enter it,
 * never proposals: a replica's history is the committed log's, whichever member serves it.
 *
 * `floor` is the index up to which the history knows nothing more: every change with a higher
 * index is kept. A cursor below the floor is `compacted` (the caller answers 410); the history
 * never silently skips a change. Installing a snapshot (or starting from one) moves the floor to
 * the snapshot's index: what happened before it is no longer known here.
 */

import type { KVChange } from '../kv/index.js';

export interface HistoryBounds {
  /** Most changes kept. */
  readonly events: number;
  /** Most bytes of keys and values kept. */
  readonly bytes: number;
  /** Changes older than this are dropped. */
  readonly ageMs: number;
}

export interface Recorded extends KVChange {
  readonly atMs: number;
}

/** Per change, what it costs beyond its key and value. */
const overheadBytes = 64;
const costOf = (c: KVChange) => overheadBytes + c.key.length * 2 + (c.value?.byteLength ?? 0);

export class ChangeHistory {
  readonly #bounds: HistoryBounds;
  readonly #now: () => number;
  // A queue: #events[#head..] are kept; the prefix is dropped lazily.
  #events: Recorded[] = [];
  #head = 0;
  #bytes = 0;
  #floor: number;
  readonly #listeners = new Set<(c: Recorded) => void>();
  /** Followers told when the history can no longer be followed from where they are. */
  readonly #breaks = new Set<(why: string) => void>();

  constructor(bounds: HistoryBounds, now: () => number, floor = 0) {
    this.#bounds = bounds;
    this.#now = now;
    this.#floor = floor;
  }

  /** Changes at or below this index are no longer known here. */
  get floor(): number {
    return this.#floor;
  }

  get size(): number {
    return this.#events.length - this.#head;
  }

  /** Records a change just applied and tells every listener. */
  append(c: KVChange): void {
    const r: Recorded = { ...c, atMs: this.#now() };
    this.#events.push(r);
    this.#bytes += costOf(r);
    this.#trim(r.atMs);
    for (const l of this.#listeners) l(r);
  }

  /**
   * A snapshot replaced the state: nothing before `index` is known any more. Whoever follows the
   * history is told: the changes up to the snapshot were never seen here, so a follower's feed
   * from this replica has a hole and must resume elsewhere (or get 410 here).
   */
  reset(index: number): void {
    this.#events = [];
    this.#head = 0;
    this.#bytes = 0;
    this.#floor = index;
    this.#broken(`the replica here installed a snapshot at index ${index}`);
  }

  /** The replica here is gone (removed from its group): whoever follows it must resume elsewhere. */
  end(): void {
    this.#broken('the replica here was removed');
  }

  #broken(why: string): void {
    const breaks = [...this.#breaks];
    this.#listeners.clear();
    this.#breaks.clear();
    for (const b of breaks) b(why);
  }

  /**
   * The changes after index `after`, oldest first, or `compacted` if some of them are no longer
   * kept (`after` below the floor). With `seenAt`, those of index `after` itself past its first
   * `seenAt` come first (an entry may make several changes: a lease revoke).
   */
  since(after: number, seenAt: number | null = null): readonly Recorded[] | 'compacted' {
    this.#trim(this.#now());
    if (after < this.#floor) return 'compacted';
    if (seenAt !== null) {
      // Compacted when `after` is the floor: the changes of that index were dropped with it.
      const from = this.since(after - 1);
      if (from === 'compacted') return 'compacted';
      const at = from.filter((c) => c.index === after).length;
      return from.slice(Math.min(at, seenAt));
    }
    // Indexes grow along the queue: binary search for the first one above `after`.
    let lo = this.#head;
    let hi = this.#events.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#events[mid]!.index <= after) lo = mid + 1;
      else hi = mid;
    }
    return this.#events.slice(lo);
  }

  /**
   * `listener` hears every change appended from now on, until `broken` is called (a snapshot or
   * the replica's removal: see reset and end), which ends the subscription; returns how to stop.
   */
  subscribe(listener: (c: Recorded) => void, broken: (why: string) => void): () => void {
    this.#listeners.add(listener);
    this.#breaks.add(broken);
    return () => {
      this.#listeners.delete(listener);
      this.#breaks.delete(broken);
    };
  }

  #trim(nowMs: number): void {
    const { events, bytes, ageMs } = this.#bounds;
    while (
      this.size > 0 &&
      (this.size > events || this.#bytes > bytes || nowMs - this.#events[this.#head]!.atMs > ageMs)
    ) {
      const dropped = this.#events[this.#head++]!;
      this.#bytes -= costOf(dropped);
      this.#floor = dropped.index;
      // An entry's changes go together: the floor means every change of its index is gone.
      while (this.size > 0 && this.#events[this.#head]!.index === dropped.index) {
        this.#bytes -= costOf(this.#events[this.#head++]!);
      }
    }
    // Compact the array once the dropped prefix is as long as what is kept.
    if (this.#head > 1024 && this.#head * 2 > this.#events.length) {
      this.#events = this.#events.slice(this.#head);
      this.#head = 0;
    }
  }
}
