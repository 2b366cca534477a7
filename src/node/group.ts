/**
 * One shard group hosted on this node: its Raft member, its state machine and the clients
 * waiting on it. Carries out steps 3 and 4 of a Ready (install, apply, serve reads) and decides
 * when the group's log is long enough to snapshot. It knows its machine only through the
 * StateMachine contract and time only through a Clock, so the simulator runs it too.
 */

import { randomInt } from 'node:crypto';
import type { KVStateMachine } from '../kv/index.js';
import { decodeConf } from '../raft/conf.js';
import type { Logger } from '../raft/logger.js';
import { RaftNode } from '../raft/raft-node.js';
import { createRng, type Rng } from '../raft/rng.js';
import {
  type ConfState,
  defaultRaftTuning,
  type HardState,
  type Index,
  type NodeId,
  type RaftConfig,
  type Ready,
  type Snapshot,
} from '../raft/types.js';
import type { GroupId, GroupWrite, RaftStore } from '../storage/raft-store.js';
import type { Clock } from './clock.js';
import { NotLeaderError } from './errors.js';
import { GroupObserver } from './observer.js';
import type { ResultOf, StateMachine, StateMachineFactory } from './state-machine.js';
import { Waiters } from './waiters.js';

export interface GroupTuning {
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  /** Snapshot once this many entries were applied since the last snapshot. */
  readonly snapshotEntries: number;
}

/** What a group is made of besides its store and tuning. */
export interface GroupDeps<M extends StateMachine<unknown>> {
  /** Makes the group's state machine: empty, or from a snapshot. */
  readonly machine: StateMachineFactory<M>;
  /** The time the group's observer stamps events with. */
  readonly clock: Clock;
  /** The core's randomness (election timeouts); by default seeded from crypto. */
  readonly rng?: Rng;
  /** Core settings beyond GroupTuning; by default `defaultRaftTuning`'s. */
  readonly raftTuning?: Partial<Omit<RaftConfig, 'id' | 'voters' | 'electionTicks' | 'heartbeatTicks'>>;
}

/**
 * Snapshot also once this many bytes of commands were applied since the last one: bounds the log
 * kept in memory (and replayed at restart) when commands are large.
 */
export const snapshotLogBytes = 64 * 1024 * 1024;

/** The core's randomness is seeded with an integer drawn from [0, rngSeedRange) at load. */
const rngSeedRange = 2 ** 31;

/** A group of any state machine: what the drive loop, waits and shutdown handle alike. */
// biome-ignore lint/suspicious/noExplicitAny: a group's machine is opaque to code that only drives it.
export type AnyGroup = Group<any>;

/**
 * A group of state machine `M` (raftkv's is KVStateMachine); waiting proposals are answered with
 * what `M.apply` returned.
 */
export class Group<M extends StateMachine<unknown> = KVStateMachine> {
  readonly id: GroupId;
  readonly raft: RaftNode;
  readonly waiters = new Waiters<ResultOf<M>>();
  /** Leader changes, failover windows, rates and snapshot events, for status and metrics. */
  readonly observer: GroupObserver;
  readonly #machines: StateMachineFactory<M>;
  #sm: M;
  // Invariant: #snapshotIndex <= #applied; #applied is the last index handed to the state machine.
  #applied: Index;
  #snapshotIndex: Index;
  #bytesSinceSnapshot = 0;
  /**
   * The newest hard state of a Ready carried out; a Ready that changes only the commit index
   * writes nothing, and its hard state rides along with the group's next write (see toWrite).
   */
  #hardState: HardState | null = null;
  readonly #snapshotEntries: number;
  readonly #log: Logger;

  private constructor(
    id: GroupId,
    raft: RaftNode,
    sm: M,
    applied: Index,
    tuning: GroupTuning,
    log: Logger,
    deps: GroupDeps<M>,
  ) {
    this.id = id;
    this.raft = raft;
    this.#machines = deps.machine;
    this.#sm = sm;
    this.#applied = applied;
    this.#snapshotIndex = applied;
    this.#snapshotEntries = tuning.snapshotEntries;
    this.#log = log;
    this.observer = new GroupObserver(id, raft.status().id, log, () => deps.clock.now());
  }

  /**
   * Restarts the group from what `store` holds: the state machine from the snapshot, the rest
   * replayed by Raft. `initial` is the group's first configuration, in effect until the store
   * holds a snapshot or a config entry.
   */
  static async load<M extends StateMachine<unknown>>(
    id: GroupId,
    self: NodeId,
    initial: ConfState,
    store: RaftStore,
    tuning: GroupTuning,
    log: Logger,
    deps: GroupDeps<M>,
  ): Promise<Group<M>> {
    const durable = await store.load(id);
    const sm = durable.snapshot === null ? deps.machine.empty() : deps.machine.restore(durable.snapshot.data);
    const applied = durable.snapshot?.meta.index ?? 0;
    const raft = new RaftNode(
      {
        ...defaultRaftTuning,
        ...deps.raftTuning,
        id: self,
        voters: initial.voters,
        learners: initial.learners,
        electionTicks: tuning.electionTicks,
        heartbeatTicks: tuning.heartbeatTicks,
      },
      durable,
      { rng: deps.rng ?? createRng(randomInt(rngSeedRange)), log, applied },
    );
    log.info(
      { snapshotIndex: applied, entries: durable.entries.length, term: durable.hardState.term },
      'group loaded from disk',
    );
    return new Group(id, raft, sm, applied, tuning, log, deps);
  }

  /** The state machine as of the last applied entry; replaced when a snapshot is installed. */
  get sm(): M {
    return this.#sm;
  }

  get applied(): Index {
    return this.#applied;
  }

  /**
   * Step 1 of a Ready: what this group persists, or null when nothing needs to be. A hard state
   * whose only change is the commit index is not written on its own (the commit index is a hint
   * for a faster restart, not needed for safety); it rides along with the group's next write.
   * Changes nothing: applyReady() records the hard state once the Ready was carried out.
   */
  toWrite(rd: Ready): GroupWrite | null {
    const needed = rd.mustSync || rd.entries.length > 0 || rd.snapshot !== null;
    if (!needed) return null;
    return {
      group: this.id,
      installSnapshot: rd.snapshot,
      compactSnapshot: null,
      entries: rd.entries,
      hardState: rd.hardState ?? this.#hardState,
    };
  }

  /** Steps 3 and 4 of a Ready, after it was persisted and its messages sent. */
  applyReady(rd: Ready): void {
    if (rd.hardState !== null) this.#hardState = rd.hardState;
    const confs: [ConfState, Index][] = [];
    if (rd.snapshot !== null) {
      this.#install(rd.snapshot);
      confs.push([rd.snapshot.meta, rd.snapshot.meta.index]);
    }
    for (const e of rd.committed) {
      if (e.kind === 'command') {
        this.waiters.applied(e.index, e.term, this.#sm.apply(e.index, e.data, e.term) as ResultOf<M>);
        this.#bytesSinceSnapshot += e.data.byteLength;
      } else {
        this.#sm.applyNoop(e.index, e.term);
        this.waiters.applied(e.index, e.term, null);
      }
      this.#applied = e.index;
      if (e.kind === 'config') confs.push([decodeConf(e.data)!, e.index]);
    }
    for (const rs of rd.readStates) this.waiters.readConfirmed(rs.ctx, rs.index, this.#applied);
    if (rd.committed.length > 0) this.waiters.appliedTo(this.#applied);
    if (rd.softState !== null) {
      // A read changed nothing: the API routes it again, to the new leader.
      if (rd.softState.role !== 'leader')
        this.waiters.failUnconfirmedReads(() => new NotLeaderError(this.id));
      for (const listener of this.#roleListeners) listener();
    }
    this.observer.observe(rd.softState, rd.committed);
    for (const [conf, index] of confs) for (const listener of this.#confListeners) listener(conf, index);
  }

  readonly #confListeners = new Set<(conf: ConfState, index: Index) => void>();

  /**
   * Calls `listener` for every configuration a Ready applied (a config entry, or the one a
   * snapshot installed carries), with its index, in log order: the node retires a replica that
   * was removed.
   */
  onConfApplied(listener: (conf: ConfState, index: Index) => void): () => void {
    this.#confListeners.add(listener);
    return () => this.#confListeners.delete(listener);
  }

  /** Voters and learners as this replica knows them: the latest configuration in its log. */
  get members(): readonly NodeId[] {
    const { voters, learners } = this.raft.conf();
    return [...voters, ...learners];
  }

  readonly #roleListeners = new Set<() => void>();

  /** Calls `listener` after every change of role, leader or term; returns the unsubscribe. */
  onRoleChange(listener: () => void): () => void {
    this.#roleListeners.add(listener);
    return () => this.#roleListeners.delete(listener);
  }

  /** The voter that is most up to date, for handing leadership over; null if not leader or alone. */
  bestTransferee(eligible: (id: NodeId) => boolean = () => true): NodeId | null {
    const best = this.raft
      .followers()
      .filter((f) => !f.learner && eligible(f.id))
      .sort((a, b) => b.match - a.match)[0];
    return best?.id ?? null;
  }

  #install(snapshot: Snapshot): void {
    this.#sm = this.#machines.restore(snapshot.data);
    this.#applied = snapshot.meta.index;
    this.#snapshotIndex = snapshot.meta.index;
    this.#bytesSinceSnapshot = 0;
    this.waiters.coveredBySnapshot(snapshot.meta.index);
    this.waiters.appliedTo(this.#applied);
    this.observer.snapshotInstalled(snapshot.data.byteLength);
    this.#log.info(
      { index: snapshot.meta.index, bytes: snapshot.data.byteLength },
      'installed snapshot from leader',
    );
  }

  #retired = false;

  /** The node no longer hosts this replica: it takes no more snapshots (its records are being deleted). */
  retire(): void {
    this.#retired = true;
  }

  /** Our own snapshot when the log since the last one passed the threshold; persist it, then call compacted(). */
  snapshotIfDue(): GroupWrite | null {
    if (this.#retired) return null;
    const due =
      this.#applied - this.#snapshotIndex >= this.#snapshotEntries ||
      this.#bytesSinceSnapshot >= snapshotLogBytes;
    if (!due) return null;
    if (this.#applied <= this.raft.logView().snapshot.index) return null;
    const snapshot: Snapshot = { meta: this.raft.snapshotMeta(this.#applied), data: this.#sm.snapshot() };
    return { group: this.id, installSnapshot: null, compactSnapshot: snapshot, entries: [], hardState: null };
  }

  /** The snapshot from snapshotIfDue() is durable: let Raft drop the entries it covers. */
  compacted(snapshot: Snapshot): void {
    this.raft.compact(snapshot.meta.index, snapshot.data);
    this.#snapshotIndex = snapshot.meta.index;
    this.#bytesSinceSnapshot = 0;
    this.observer.snapshotTaken(snapshot.data.byteLength);
    this.#log.info(
      { index: snapshot.meta.index, bytes: snapshot.data.byteLength },
      'snapshot taken; log compacted',
    );
  }
}
