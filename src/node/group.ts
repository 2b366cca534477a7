/**
 * One shard group hosted on this node: its Raft member, its key-value state machine and the
 * clients waiting on it. Carries out steps 3 and 4 of a Ready (install, apply, serve reads) and
 * decides when the group's log is long enough to snapshot.
 */

import { randomInt } from 'node:crypto';
import type { Logger } from 'pino';
import { type KVResult, KVStateMachine } from '../kv/index.js';
import { RaftNode } from '../raft/raft-node.js';
import { createRng } from '../raft/rng.js';
import {
  defaultRaftTuning,
  type HardState,
  type Index,
  type NodeId,
  type Ready,
  type Snapshot,
} from '../raft/types.js';
import type { GroupId, GroupWrite, RaftStore } from '../storage/raft-store.js';
import { GroupObserver } from './observer.js';
import { Waiters } from './waiters.js';

export interface GroupTuning {
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  /** Snapshot once this many entries were applied since the last snapshot. */
  readonly snapshotEntries: number;
}

/** Snapshot also once this many bytes of commands were applied since the last one: bounds the log kept in memory. */
export const snapshotLogBytes = 64 * 1024 * 1024;

export class Group {
  readonly id: GroupId;
  readonly members: readonly NodeId[];
  readonly raft: RaftNode;
  readonly waiters = new Waiters<KVResult>();
  /** Leader changes, failover windows, rates and snapshot events, for status and metrics. */
  readonly observer: GroupObserver;
  #sm: KVStateMachine;
  // Invariant: #snapshotIndex <= #applied; #applied is the last index handed to the state machine.
  #applied: Index;
  #snapshotIndex: Index;
  #bytesSinceSnapshot = 0;
  readonly #snapshotEntries: number;
  readonly #log: Logger;

  private constructor(
    id: GroupId,
    members: readonly NodeId[],
    raft: RaftNode,
    sm: KVStateMachine,
    applied: Index,
    tuning: GroupTuning,
    log: Logger,
  ) {
    this.id = id;
    this.members = members;
    this.raft = raft;
    this.#sm = sm;
    this.#applied = applied;
    this.#snapshotIndex = applied;
    this.#snapshotEntries = tuning.snapshotEntries;
    this.#log = log;
    this.observer = new GroupObserver(id, raft.status().id, log);
  }

  /** Restarts the group from what `store` holds: the state machine from the snapshot, the rest replayed by Raft. */
  static async load(
    id: GroupId,
    self: NodeId,
    members: readonly NodeId[],
    store: RaftStore,
    tuning: GroupTuning,
    log: Logger,
  ): Promise<Group> {
    const durable = await store.load(id);
    const sm =
      durable.snapshot === null ? new KVStateMachine() : KVStateMachine.restore(durable.snapshot.data);
    const applied = durable.snapshot?.meta.index ?? 0;
    const raft = new RaftNode(
      {
        ...defaultRaftTuning,
        id: self,
        voters: members,
        electionTicks: tuning.electionTicks,
        heartbeatTicks: tuning.heartbeatTicks,
      },
      durable,
      { rng: createRng(randomInt(2 ** 31)), log, applied },
    );
    log.info(
      { snapshotIndex: applied, entries: durable.entries.length, term: durable.hardState.term },
      'group loaded from disk',
    );
    return new Group(id, members, raft, sm, applied, tuning, log);
  }

  get sm(): KVStateMachine {
    return this.#sm;
  }

  get applied(): Index {
    return this.#applied;
  }

  /**
   * Step 1 of a Ready: what this group persists, or null when nothing needs to be. A hard state
   * whose only change is the commit index is not written on its own (the commit index is a hint
   * for a faster restart, not needed for safety); it rides along with the group's next write.
   */
  toWrite(rd: Ready): GroupWrite | null {
    if (rd.hardState !== null) this.#hardState = rd.hardState;
    const needed = rd.mustSync || rd.entries.length > 0 || rd.snapshot !== null;
    if (!needed) return null;
    return {
      group: this.id,
      installSnapshot: rd.snapshot,
      compactSnapshot: null,
      entries: rd.entries,
      hardState: this.#hardState,
    };
  }

  /** The newest hard state seen in a Ready, persisted or not. */
  #hardState: HardState | null = null;

  /** Steps 3 and 4 of a Ready, after it was persisted and its messages sent. */
  applyReady(rd: Ready): void {
    if (rd.snapshot !== null) this.#install(rd.snapshot);
    for (const e of rd.committed) {
      if (e.kind === 'command') {
        this.waiters.applied(e.index, e.term, this.#sm.apply(e.index, e.data));
        this.#bytesSinceSnapshot += e.data.byteLength;
      } else {
        this.#sm.applyNoop(e.index);
        this.waiters.applied(e.index, e.term, null);
      }
      this.#applied = e.index;
    }
    for (const rs of rd.readStates) this.waiters.readConfirmed(rs.ctx, rs.index, this.#applied);
    if (rd.committed.length > 0) this.waiters.appliedTo(this.#applied);
    if (rd.softState !== null) {
      if (rd.softState.role !== 'leader') this.waiters.failUnconfirmedReads();
      for (const listener of this.#roleListeners) listener();
    }
    this.observer.observe(rd.softState, rd.committed);
  }

  readonly #roleListeners = new Set<() => void>();

  /** Calls `listener` after every change of role, leader or term; returns the unsubscribe. */
  onRoleChange(listener: () => void): () => void {
    this.#roleListeners.add(listener);
    return () => this.#roleListeners.delete(listener);
  }

  /** The follower that is most up to date, for handing leadership over; null if not leader or alone. */
  bestTransferee(): NodeId | null {
    const best = this.raft.followers().sort((a, b) => b.match - a.match)[0];
    return best?.id ?? null;
  }

  #install(snapshot: Snapshot): void {
    this.#sm = KVStateMachine.restore(snapshot.data);
    this.#applied = snapshot.meta.index;
    this.#snapshotIndex = snapshot.meta.index;
    this.#bytesSinceSnapshot = 0;
    this.waiters.coveredBySnapshot(snapshot.meta.index);
    this.waiters.appliedTo(this.#applied);
    this.observer.snapshotInstalled(snapshot.data.byteLength);
    this.#log.info({ index: snapshot.meta.index, keys: this.#sm.size }, 'installed snapshot from leader');
  }

  /** Our own snapshot when the log since the last one passed the threshold; persist it, then call compacted(). */
  snapshotIfDue(): GroupWrite | null {
    const due =
      this.#applied - this.#snapshotIndex >= this.#snapshotEntries ||
      this.#bytesSinceSnapshot >= snapshotLogBytes;
    if (!due) return null;
    const log = this.raft.logView();
    const term = log.entries[this.#applied - log.snapshot.index - 1]?.term;
    if (term === undefined) return null;
    const snapshot: Snapshot = {
      meta: { index: this.#applied, term, voters: this.members },
      data: this.#sm.snapshot(),
    };
    return { group: this.id, installSnapshot: null, compactSnapshot: snapshot, entries: [], hardState: null };
  }

  /** The snapshot from snapshotIfDue() is durable: let Raft drop the entries it covers. */
  compacted(snapshot: Snapshot): void {
    this.raft.compact(snapshot.meta.index, snapshot.data);
    this.#snapshotIndex = snapshot.meta.index;
    this.#bytesSinceSnapshot = 0;
    this.observer.snapshotTaken(snapshot.data.byteLength);
    this.#log.info({ index: snapshot.meta.index, keys: this.#sm.size }, 'snapshot taken; log compacted');
  }
}
