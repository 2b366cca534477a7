/**
 * One simulated member's durable storage: a RaftStore the real drive loop writes to, holding one
 * group. A write is visible at once but durable only once a synced write follows (LevelDB's log
 * is written in order), so a crash loses un-synced writes. Each write is planned by the stores'
 * own write-plan.ts and checked against the Ready contract; it throws when the shell or the core
 * breaks it and never repairs what it is given. Its hooks let the member crash just before or
 * just after a write. Everything completes in microtasks: no real I/O, no timers.
 */
import type { DurableState, Entry, HardState, Snapshot, SnapshotMeta, Term } from '../../src/raft/types.js';
import type {
  GroupId,
  GroupWrite,
  RaftStore,
  ReplicaRecord,
  StoreIdentity,
} from '../../src/storage/raft-store.js';
import { type LogBounds, planGroupWrite, type WriteStep } from '../../src/storage/write-plan.js';

const emptyHardState: HardState = { term: 0, vote: null, commit: 0 };

/** The one group a simulated member hosts. */
export const simGroup: GroupId = 0;

/** What a member's storage has done, for summaries. */
export interface StoreCounts {
  writes: number;
  syncs: number;
  compactions: number;
  lostWrites: number;
}

/** Called around every write that changes something; either may throw to crash the member there. */
export interface StoreHooks {
  /** Before anything of the write is stored. */
  beforeWrite(writes: readonly GroupWrite[], sync: boolean): void;
  /** After the write is stored (and, when `sync`, durable), before the caller hears of it. */
  afterWrite(writes: readonly GroupWrite[], sync: boolean): void;
}

/** One view of the stored group: what a reader sees, or what survives a crash. */
class Image {
  hardState: HardState = emptyHardState;
  snapshot: Snapshot | null = null;
  // Invariant: contiguous, starting at snapshot index + 1.
  entries: Entry[] = [];

  /** Whether this image holds the entry (index, term), or a snapshot that covers index. */
  holds(index: number, term: Term): boolean {
    const snapshotIndex = this.snapshot?.meta.index ?? 0;
    if (index <= snapshotIndex) return true;
    return this.entries[index - snapshotIndex - 1]?.term === term;
  }

  bounds(): LogBounds {
    const snapshotIndex = this.snapshot?.meta.index ?? 0;
    return { snapshotIndex, firstIndex: snapshotIndex + 1, lastIndex: snapshotIndex + this.entries.length };
  }

  apply(steps: readonly WriteStep[]): void {
    for (const step of steps) {
      switch (step.kind) {
        case 'deleteEntries': {
          const first = (this.snapshot?.meta.index ?? 0) + 1;
          this.entries.splice(step.from - first, step.to - step.from + 1);
          break;
        }
        case 'putEntries':
          this.entries.push(...step.entries);
          break;
        case 'putHardState':
          this.hardState = step.hardState;
          break;
        case 'putSnapshot':
          this.snapshot = step.snapshot;
          break;
      }
    }
  }

  clone(): Image {
    const copy = new Image();
    copy.hardState = this.hardState;
    copy.snapshot = this.snapshot;
    copy.entries = [...this.entries];
    return copy;
  }
}

/** One member's storage; it outlives the member's crashes. */
export class SimStore implements RaftStore {
  #visible = new Image();
  #durable = new Image();
  // Invariant: #visible is #durable with these applied in order.
  #unsynced: (readonly WriteStep[])[] = [];
  #identity: StoreIdentity | null = null;
  #hooks: StoreHooks | null = null;
  #version = 0;
  readonly counts: StoreCounts = { writes: 0, syncs: 0, compactions: 0, lostWrites: 0 };

  /** Who hears of writes from now on (the member's current incarnation). */
  attach(hooks: StoreHooks | null): void {
    this.#hooks = hooks;
  }

  async identity(): Promise<StoreIdentity | null> {
    return this.#identity;
  }

  async setIdentity(identity: StoreIdentity): Promise<void> {
    this.#identity = identity;
  }

  /** The simulator's member hosts its one group from the start; membership lives in the simulation. */
  async pins(): Promise<ReadonlyMap<string, string>> {
    return new Map();
  }

  async setPin(): Promise<void> {}

  async replicas(): Promise<ReadonlyMap<GroupId, ReplicaRecord>> {
    return new Map();
  }

  async createReplica(): Promise<void> {}

  async deleteReplica(): Promise<void> {}

  async load(group: GroupId): Promise<DurableState> {
    checkGroup(group);
    const v = this.#visible;
    return { hardState: v.hardState, snapshot: v.snapshot, entries: [...v.entries] };
  }

  async write(writes: readonly GroupWrite[], opts: { readonly sync: boolean }): Promise<void> {
    const { sync } = opts;
    let bounds = this.#visible.bounds();
    let hardState = this.#visible.hardState;
    const planned: (readonly WriteStep[])[] = [];
    for (const w of writes) {
      checkGroup(w.group);
      const plan = planGroupWrite(bounds, w);
      bounds = plan.bounds;
      if (w.hardState !== null) {
        checkHardState(hardState, w.hardState, bounds, sync);
        hardState = w.hardState;
      }
      if (w.entries.length > 0 && !sync) {
        throw new Error(`storage: entries ${w.entries[0]!.index}.. written without sync`);
      }
      if (w.compactSnapshot !== null) this.counts.compactions++;
      planned.push(plan.steps);
    }
    if (planned.every((steps) => steps.length === 0)) return;
    this.#hooks?.beforeWrite(writes, sync);
    this.counts.writes++;
    this.#version++;
    for (const steps of planned) this.#visible.apply(steps);
    this.#unsynced.push(...planned);
    if (sync) {
      this.counts.syncs++;
      for (const steps of this.#unsynced) this.#durable.apply(steps);
      this.#unsynced = [];
    }
    this.#hooks?.afterWrite(writes, sync);
  }

  async close(): Promise<void> {}

  /** The machine died: writes never synced are gone. */
  crash(): void {
    if (this.#unsynced.length > 0) this.counts.lostWrites++;
    this.#unsynced = [];
    this.#visible = this.#durable.clone();
    this.#version++;
  }

  /** The disk is wiped while the member is down: identity, log, snapshot and hard state are gone. */
  wipe(): void {
    this.#identity = null;
    this.#unsynced = [];
    this.#visible = new Image();
    this.#durable = new Image();
    this.#version++;
  }

  // What the checkers read without going through the member.

  /** Changes whenever what the store holds may have changed, so readers can cache. */
  get version(): number {
    return this.#version;
  }

  /** Whether the entry (index, term) survives a crash now: synced, or covered by a synced snapshot. */
  durablyHolds(index: number, term: Term): boolean {
    return this.#durable.holds(index, term);
  }

  /** The snapshot and entries a start would load. */
  storedLog(): { readonly snapshot: SnapshotMeta | null; readonly entries: readonly Entry[] } {
    return { snapshot: this.#visible.snapshot?.meta ?? null, entries: this.#visible.entries };
  }

  /** The term of the hard state a start would load. */
  storedTerm(): Term {
    return this.#visible.hardState.term;
  }

  // What a member that is down would start with, read synchronously by the electability checks.

  /** The index of the first stored entry after the snapshot. */
  firstIndex(): number {
    return this.#visible.bounds().firstIndex;
  }

  lastIndex(): number {
    return this.#visible.bounds().lastIndex;
  }

  /** The term of the last stored entry (the snapshot's when the log after it is empty). */
  lastTerm(): number {
    return this.#visible.entries.at(-1)?.term ?? this.#visible.snapshot?.meta.term ?? 0;
  }

  /** The term of the stored entry at `index`, the snapshot's at its index, or null. */
  term(index: number): number | null {
    const snapshotIndex = this.firstIndex() - 1;
    if (index === snapshotIndex) return this.#visible.snapshot?.meta.term ?? 0;
    return this.#visible.entries[index - snapshotIndex - 1]?.term ?? null;
  }
}

function checkGroup(group: GroupId): void {
  if (group !== simGroup) throw new Error(`storage: group ${group} is not the simulated group ${simGroup}`);
}

/** The Ready contract for a hard state: its term never goes back, a new term or vote is synced, commit is stored. */
function checkHardState(before: HardState, hs: HardState, bounds: LogBounds, sync: boolean): void {
  if (hs.term < before.term) {
    throw new Error(`storage: hard state term goes back from ${before.term} to ${hs.term}`);
  }
  if ((hs.term !== before.term || hs.vote !== before.vote) && !sync) {
    throw new Error(`storage: term or vote changed (${hs.term}, ${hs.vote}) in a write without sync`);
  }
  if (hs.commit > bounds.lastIndex) {
    throw new Error(
      `storage: hard state commit ${hs.commit} above the stored log (last ${bounds.lastIndex})`,
    );
  }
}
