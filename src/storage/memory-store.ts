/**
 * The in-memory twin of LevelStore, for tests and simulations: the same contract and the same
 * write semantics (both follow write-plan.ts). Data is copied in and out, so no caller can change
 * what is stored. It models a machine crash: crash() keeps only what synced writes made durable.
 */

import type { DurableState, Entry, HardState, Snapshot } from '../raft/types.js';
import { checkGroupId } from './keys.js';
import type { GroupId, GroupWrite, RaftStore, ReplicaRecord, StoreIdentity } from './raft-store.js';
import { StoreClosedError, StoreFailedError } from './store-errors.js';
import { type LogBounds, planGroupWrite, type WriteStep } from './write-plan.js';

interface GroupImage {
  hardState: HardState;
  snapshot: Snapshot | null;
  // Invariant: entries[k].index === (snapshot index or 0) + 1 + k.
  entries: Entry[];
}

interface PlannedWrite {
  readonly group: GroupId;
  readonly steps: readonly WriteStep[];
}

const emptyHardState: HardState = { term: 0, vote: null, commit: 0 };

function copyEntry(e: Entry): Entry {
  return { index: e.index, term: e.term, kind: e.kind, data: new Uint8Array(e.data) };
}

function copySnapshot(s: Snapshot): Snapshot {
  return {
    meta: {
      index: s.meta.index,
      term: s.meta.term,
      voters: [...s.meta.voters],
      learners: [...s.meta.learners],
    },
    data: new Uint8Array(s.data),
  };
}

// Copies what the caller handed in, once, so both images can share the stored objects.
function copyStep(step: WriteStep): WriteStep {
  switch (step.kind) {
    case 'deleteEntries':
      return step;
    case 'putEntries':
      return { kind: 'putEntries', entries: step.entries.map(copyEntry) };
    case 'putHardState':
      return { kind: 'putHardState', hardState: { ...step.hardState } };
    case 'putSnapshot':
      return { kind: 'putSnapshot', snapshot: copySnapshot(step.snapshot) };
  }
}

/** One view of the stored state: what a reader sees, or what survives a crash. Never shares arrays. */
class Image {
  readonly groups = new Map<GroupId, GroupImage>();
  readonly replicas = new Map<GroupId, ReplicaRecord>();
  readonly pins = new Map<string, string>();
  identity: StoreIdentity | null = null;

  get(group: GroupId): GroupImage | undefined {
    return this.groups.get(group);
  }

  bounds(group: GroupId): LogBounds {
    const g = this.groups.get(group);
    const snapshotIndex = g?.snapshot?.meta.index ?? 0;
    return {
      snapshotIndex,
      firstIndex: g?.entries[0]?.index ?? snapshotIndex + 1,
      lastIndex: g?.entries.at(-1)?.index ?? snapshotIndex,
    };
  }

  apply({ group, steps }: PlannedWrite): void {
    let g = this.groups.get(group);
    if (g === undefined) {
      g = { hardState: emptyHardState, snapshot: null, entries: [] };
      this.groups.set(group, g);
    }
    for (const step of steps) {
      switch (step.kind) {
        case 'deleteEntries':
          g.entries = g.entries.filter((e) => e.index < step.from || e.index > step.to);
          break;
        case 'putEntries':
          g.entries.push(...step.entries);
          break;
        case 'putHardState':
          g.hardState = step.hardState;
          break;
        case 'putSnapshot':
          g.snapshot = step.snapshot;
          break;
      }
    }
  }

  clone(): Image {
    const copy = new Image();
    copy.identity = this.identity;
    for (const [group, record] of this.replicas) copy.replicas.set(group, record);
    for (const [node, incarnation] of this.pins) copy.pins.set(node, incarnation);
    for (const [group, g] of this.groups) copy.groups.set(group, { ...g, entries: [...g.entries] });
    return copy;
  }
}

/**
 * RaftStore in memory, for tests. Behaves as LevelStore does for every call and adds crash() and
 * failNextWrite() so tests can lose unsynced writes or fail a write on purpose.
 */
export class MemoryStore implements RaftStore {
  // What load() sees: every write so far.
  #visible = new Image();
  // What a crash keeps: every write up to the last synced one.
  #durable = new Image();
  // Invariant: #visible equals #durable with these applied in order.
  #unsynced: PlannedWrite[] = [];
  #injectedFailure: Error | null = null;
  #failure: unknown = null;
  #closed = false;

  /**
   * Simulates a machine crash (power loss): this store closes, and the returned store holds only
   * what was durable. A write with `sync: true` is durable together with every write before it
   * (LevelDB's log is written in order); writes with `sync: false` after the last synced write
   * are lost. setIdentity() is synced.
   */
  crash(): MemoryStore {
    this.#closed = true;
    const survivor = new MemoryStore();
    survivor.#durable = this.#durable.clone();
    survivor.#visible = this.#durable.clone();
    return survivor;
  }

  /**
   * Makes the next write that has any change reject with `error` and store nothing; from then on
   * every write rejects with StoreFailedError, as LevelStore does after a failed batch.
   */
  failNextWrite(error: Error): void {
    this.#injectedFailure = error;
  }

  async identity(): Promise<StoreIdentity | null> {
    this.#checkOpen();
    const identity = this.#visible.identity;
    return identity === null ? null : { ...identity };
  }

  async setIdentity(identity: StoreIdentity): Promise<void> {
    this.#checkOpen();
    this.#visible.identity = { ...identity };
    this.#sync();
  }

  async pins(): Promise<ReadonlyMap<string, string>> {
    this.#checkOpen();
    return new Map(this.#visible.pins);
  }

  async setPin(node: string, incarnation: string): Promise<void> {
    this.#checkOpen();
    this.#visible.pins.set(node, incarnation);
    this.#sync();
  }

  async replicas(): Promise<ReadonlyMap<GroupId, ReplicaRecord>> {
    this.#checkOpen();
    return new Map(this.#visible.replicas);
  }

  async createReplica(group: GroupId, record: ReplicaRecord): Promise<void> {
    this.#checkOpen();
    checkGroupId(group);
    if (this.#failure !== null) throw new StoreFailedError(this.#failure);
    this.#visible.replicas.set(group, {
      initial: { voters: [...record.initial.voters], learners: [...record.initial.learners] },
      joinedAfter: record.joinedAfter,
    });
    this.#sync();
  }

  async deleteReplica(group: GroupId): Promise<void> {
    this.#checkOpen();
    checkGroupId(group);
    if (this.#failure !== null) throw new StoreFailedError(this.#failure);
    this.#sync();
    for (const image of [this.#visible, this.#durable]) {
      image.replicas.delete(group);
      image.groups.delete(group);
    }
  }

  /**
   * Everything `group` wrote, as fresh copies; the empty state for a group never written.
   * Rejects with RangeError for a group id the key layout cannot hold, as LevelStore does.
   */
  async load(group: GroupId): Promise<DurableState> {
    this.#checkOpen();
    checkGroupId(group);
    const g = this.#visible.get(group);
    if (g === undefined) return { hardState: emptyHardState, snapshot: null, entries: [] };
    return {
      hardState: { ...g.hardState },
      snapshot: g.snapshot === null ? null : copySnapshot(g.snapshot),
      entries: g.entries.map(copyEntry),
    };
  }

  /**
   * The same contract as LevelStore.write(): all writes or none, InvalidWriteError for a write
   * that breaks the contract, and a write with no changes does nothing (and syncs nothing).
   */
  async write(writes: readonly GroupWrite[], opts: { readonly sync: boolean }): Promise<void> {
    this.#checkOpen();
    if (this.#failure !== null) throw new StoreFailedError(this.#failure);
    const next = new Map<GroupId, LogBounds>();
    const planned: PlannedWrite[] = [];
    for (const w of writes) {
      const plan = planGroupWrite(next.get(w.group) ?? this.#visible.bounds(w.group), w);
      next.set(w.group, plan.bounds);
      planned.push({ group: w.group, steps: plan.steps.map(copyStep) });
    }
    if (planned.every((p) => p.steps.length === 0)) return;
    if (this.#injectedFailure !== null) {
      this.#failure = this.#injectedFailure;
      this.#injectedFailure = null;
      throw this.#failure;
    }
    for (const p of planned) this.#visible.apply(p);
    this.#unsynced.push(...planned);
    if (opts.sync) this.#sync();
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  #sync(): void {
    for (const p of this.#unsynced) this.#durable.apply(p);
    this.#unsynced = [];
    this.#durable.identity = this.#visible.identity;
    this.#durable.replicas.clear();
    for (const [group, record] of this.#visible.replicas) this.#durable.replicas.set(group, record);
    for (const [node, incarnation] of this.#visible.pins) this.#durable.pins.set(node, incarnation);
  }

  #checkOpen(): void {
    if (this.#closed) throw new StoreClosedError();
  }
}
