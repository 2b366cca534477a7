/**
 * The durable home of every Raft group on a node: log entries, hard state and snapshots, plus
 * the node's identity. One implementation sits on LevelDB, a twin in memory serves tests. A
 * failed write is fatal to the caller: it must stop acknowledging and exit (see node/).
 */

import type { ConfState, DurableState, Entry, HardState, Snapshot } from '../raft/types.js';

/** A shard group's number, 0 .. shards-1. */
export type GroupId = number;

/** What one group persists in one drive-loop turn, as a Ready says (see raft/types.ts). */
export interface GroupWrite {
  readonly group: GroupId;
  /** A snapshot from the leader: replaces the group's whole stored log and snapshot. Applied first. */
  readonly installSnapshot: Snapshot | null;
  /** Our own snapshot at its index: stored, and the entries it covers are deleted. Applied last. */
  readonly compactSnapshot: Snapshot | null;
  /** Stored entries at or after entries[0].index are dropped, then these are stored. */
  readonly entries: readonly Entry[];
  readonly hardState: HardState | null;
}

/** A replica this node hosts, as recorded when it was created. */
export interface ReplicaRecord {
  /** The group's first configuration: in effect until the log or a snapshot holds a newer one. */
  readonly initial: ConfState;
  /**
   * 0 for a replica created with the group; for one created to join a running group, the
   * leader's last index before it proposed the addition. Configurations at or below it are the
   * group's history from before this replica existed: one that leaves this node out does not
   * remove this replica.
   */
  readonly joinedAfter: number;
}

/**
 * How far a data directory has come in joining its cluster: `unclaimed` until every other node
 * has confirmed this directory's incarnation (node/identity.ts), then `bootstrap` while it
 * creates the replicas the cluster file places on it (a node of a new cluster), or `member`
 * once it holds what it should (or joins with none, as a new member).
 */
export type StoreStart = 'unclaimed' | 'bootstrap' | 'member';

/** Who a data directory belongs to; a node refuses to start on another's. */
export interface StoreIdentity {
  readonly clusterId: string;
  readonly nodeId: string;
  /** The on-disk format; a store from a newer format is refused. */
  readonly format: number;
  /**
   * Random, drawn when the directory is created: tells this directory from an earlier one of
   * the same node id (a wiped disk). Empty in a store from before incarnations existed.
   */
  readonly incarnation: string;
  readonly start: StoreStart;
}

export interface RaftStore {
  /** The identity recorded at first start, or null for a new store. */
  identity(): Promise<StoreIdentity | null>;
  /** Records the identity; synced. */
  setIdentity(identity: StoreIdentity): Promise<void>;
  /** The incarnation this node has confirmed for each other node (node/identity.ts). */
  pins(): Promise<ReadonlyMap<string, string>>;
  /** Records the incarnation confirmed for `node`; synced. */
  setPin(node: string, incarnation: string): Promise<void>;
  /** The groups this node hosts a replica of, as recorded when each was created. */
  replicas(): Promise<ReadonlyMap<GroupId, ReplicaRecord>>;
  /** Records that this node hosts a replica of `group`; synced. */
  createReplica(group: GroupId, record: ReplicaRecord): Promise<void>;
  /** Deletes every record of `group`, its replica record included; synced. */
  deleteReplica(group: GroupId): Promise<void>;
  /** Everything a group persisted; an empty state for a group never written. */
  load(group: GroupId): Promise<DurableState>;
  /** Writes all groups' changes in one atomic batch, synced to disk when `sync` (group commit). */
  write(writes: readonly GroupWrite[], opts: { readonly sync: boolean }): Promise<void>;
  close(): Promise<void>;
}

/**
 * The on-disk format this build writes and reads. 2: replica records say which groups a node
 * hosts (format 1 derived them from the cluster file at every start). 3: every node hosts a
 * replica of the membership group (a format-2 store gets one at its first start, from the file).
 */
export const storeFormat = 3;
