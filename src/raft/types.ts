/**
 * The vocabulary of the Raft core: ids, log entries, durable state, messages and the Ready.
 * Types only; nothing here runs. Every name follows the Raft paper (Ongaro & Ousterhout, 2014)
 * and Ongaro's thesis (2014); section numbers in comments point there.
 */

/** A member's id, e.g. "n1": unique for all time, never reused. */
export type NodeId = string;
/** A Raft term (§5.1). Starts at 0; the first election makes it 1. */
export type Term = number;
/** A log position (§5.3). Index 0 is the empty log's sentinel; entries start at 1. */
export type Index = number;

/**
 * One log entry. `noop` is the entry a new leader appends to commit its term (§8);
 * `command` carries the application's bytes, which the core never looks into; `config` carries
 * a whole new configuration (see conf.ts), which takes effect on each member as soon as it is
 * in that member's log, committed or not (thesis §4.1).
 */
export interface Entry {
  readonly index: Index;
  readonly term: Term;
  readonly kind: EntryKind;
  readonly data: Uint8Array;
}

export type EntryKind = 'command' | 'noop' | 'config';

/**
 * A group's configuration: the voters, whose majority commits entries and elects leaders, and
 * the learners, who receive the log and snapshots but never vote nor count in any quorum.
 */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

/**
 * One change of configuration; one at a time per group (see conf.ts for why). A learner is added
 * first, promoted once caught up; `remove` takes out a voter or a learner.
 */
export type ConfChange =
  | { readonly type: 'addLearner'; readonly node: NodeId }
  | { readonly type: 'promote'; readonly node: NodeId }
  | { readonly type: 'remove'; readonly node: NodeId };

/** What must survive a crash besides the log (§5, Figure 2), plus the commit index as a hint. */
export interface HardState {
  readonly term: Term;
  readonly vote: NodeId | null;
  /** Not needed for safety; lets a restarted member apply sooner. Never above the persisted log. */
  readonly commit: Index;
}

/**
 * Describes the state a snapshot captures: everything up to and including `index` (§7), and the
 * configuration in effect at that index.
 */
export interface SnapshotMeta extends ConfState {
  readonly index: Index;
  readonly term: Term;
}

/** A snapshot of the application's state machine. The core treats `data` as opaque bytes. */
export interface Snapshot {
  readonly meta: SnapshotMeta;
  readonly data: Uint8Array;
}

/** Everything a member persisted, handed back to the core when it restarts. */
export interface DurableState {
  readonly hardState: HardState;
  readonly snapshot: Snapshot | null;
  /** The persisted log after the snapshot: contiguous, starting at snapshot index + 1. */
  readonly entries: readonly Entry[];
}

export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';

/** Volatile facts the shell may want to route requests or log with. */
export interface SoftState {
  readonly role: Role;
  readonly leader: NodeId | null;
  readonly term: Term;
}

/** A linearizable read that may be served once the state machine has applied `index` (§6.4). */
export interface ReadState {
  readonly ctx: string;
  readonly index: Index;
}

interface Envelope {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: Term;
}

/**
 * The messages members exchange. `term` is the sender's current term, except in a pre-vote
 * request (the term the sender would campaign in) and a granted pre-vote reply (that same term).
 */
export type Message = Envelope &
  (
    | {
        readonly type: 'requestVote';
        readonly pre: boolean;
        readonly lastIndex: Index;
        readonly lastTerm: Term;
        /** Set when the campaign follows a leadership transfer: voters skip their leader lease. */
        readonly transfer: boolean;
      }
    | { readonly type: 'voteReply'; readonly pre: boolean; readonly granted: boolean }
    | {
        readonly type: 'append';
        readonly prevIndex: Index;
        readonly prevTerm: Term;
        readonly entries: readonly Entry[];
        readonly commit: Index;
      }
    | {
        readonly type: 'appendReply';
        /**
         * On success, the highest index the follower now holds in agreement with the leader; on
         * rejection, the prevIndex that did not match.
         */
        readonly index: Index;
        readonly ok: boolean;
        /**
         * On rejection, the conflict hint (§5.3): the follower's term at the conflict and the
         * first index it holds of that term; term 0 when its log is simply too short.
         */
        readonly hint: { readonly index: Index; readonly term: Term } | null;
      }
    | { readonly type: 'heartbeat'; readonly commit: Index; readonly read: number }
    | { readonly type: 'heartbeatReply'; readonly read: number }
    | { readonly type: 'snapshot'; readonly snapshot: Snapshot }
    | { readonly type: 'timeoutNow' }
  );

/**
 * What the shell must do, in this order, before handing the Ready back with `advance()`:
 * 1. persist `snapshot` (if any: it replaces the whole stored log), then `entries` (dropping any
 *    stored entry at or after `entries[0].index`), then `hardState`, atomically; fsync iff `mustSync`;
 * 2. only then send `messages` (loss, delay and reordering are tolerated); the one exception is
 *    a leader's append, heartbeat and snapshot messages, which may leave while step 1 is under
 *    way (thesis §10.2.1): the leader counts its own log in a quorum only once advance() says it
 *    is persisted;
 * 3. install `snapshot` (if any) into the state machine, then apply `committed` in order;
 * 4. serve each of `readStates` once the state machine has applied its index.
 * `softState`, when not null, says the role, leader or term changed: waiting reads of a former
 * leader will never complete and should be failed.
 */
export interface Ready {
  readonly hardState: HardState | null;
  readonly entries: readonly Entry[];
  readonly snapshot: Snapshot | null;
  readonly mustSync: boolean;
  readonly messages: readonly Message[];
  readonly committed: readonly Entry[];
  readonly readStates: readonly ReadState[];
  readonly softState: SoftState | null;
}

export type ProposeResult =
  | { readonly ok: true; readonly index: Index; readonly term: Term }
  | { readonly ok: false; readonly reason: 'notLeader'; readonly leader: NodeId | null }
  | { readonly ok: false; readonly reason: 'transferring' | 'overloaded'; readonly leader: NodeId | null };

export type ReadIndexResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: 'notLeader'; readonly leader: NodeId | null }
  | { readonly ok: false; readonly reason: 'overloaded'; readonly leader: NodeId | null };

/**
 * The answer to a configuration change. `pending`: another change is not yet committed, or this
 * leader has not yet committed an entry of its own term; try again later. The other refusals say
 * the change itself is wrong for the current configuration.
 */
export type ConfChangeResult =
  | { readonly ok: true; readonly index: Index; readonly term: Term }
  | { readonly ok: false; readonly reason: 'notLeader'; readonly leader: NodeId | null }
  | { readonly ok: false; readonly reason: 'transferring' | 'pending'; readonly leader: NodeId | null }
  | { readonly ok: false; readonly reason: ConfChangeInvalid; readonly leader: NodeId | null };

/** Why a change does not fit the configuration it would change. */
export type ConfChangeInvalid =
  | 'alreadyMember'
  | 'notMember'
  | 'notLearner'
  | 'learnerBehind'
  | 'noVoterLeft'
  | 'quorumAtRisk';

export type TransferResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: 'notLeader' | 'unknownMember' | 'self' | 'transferring' };

/** Tuning of one member. Ticks are the core's only unit of time. */
export interface RaftConfig {
  readonly id: NodeId;
  /**
   * The group's first configuration, used until the log or a snapshot holds one: the voters (and
   * learners) the group was created with. A replica created to join a running group is given the
   * configuration that adds it.
   */
  readonly voters: readonly NodeId[];
  readonly learners?: readonly NodeId[];
  /** A learner is promoted only when its log is at most this many entries behind the leader's. */
  readonly promoteLagMax: number;
  /** Base election timeout; each wait is drawn from [electionTicks, 2 * electionTicks). */
  readonly electionTicks: number;
  /** A leader sends heartbeats every heartbeatTicks; must be well under electionTicks. */
  readonly heartbeatTicks: number;
  /** Most append messages in flight to one follower in replicate state. */
  readonly inflightMax: number;
  /** Most entry bytes in one append message (always at least one entry). */
  readonly batchBytesMax: number;
  /** Most entries a leader holds uncommitted before it refuses proposals as overloaded. */
  readonly uncommittedEntriesMax: number;
  /** Most reads waiting for a ReadIndex round before readIndex() refuses as overloaded. */
  readonly pendingReadsMax: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
}

/** The defaults raftkv runs with. How long a tick lasts is the node's setting, not the core's. */
export const defaultRaftTuning = {
  electionTicks: 10,
  heartbeatTicks: 1,
  inflightMax: 256,
  batchBytesMax: 1024 * 1024,
  uncommittedEntriesMax: 10_000,
  pendingReadsMax: 10_000,
  promoteLagMax: 1_000,
  preVote: true,
  checkQuorum: true,
} as const satisfies Omit<RaftConfig, 'id' | 'voters' | 'learners'>;

/** Read-only view of a member, for status pages and tests. */
export interface RaftStatus {
  readonly id: NodeId;
  readonly role: Role;
  readonly term: Term;
  readonly vote: NodeId | null;
  readonly leader: NodeId | null;
  readonly commit: Index;
  readonly applied: Index;
  readonly lastIndex: Index;
  readonly snapshotIndex: Index;
  readonly transferee: NodeId | null;
  /** The configuration in effect: the latest in this member's log. */
  readonly conf: ConfState;
  /** Index of the entry (or snapshot) that holds `conf`; above `commit` while it is pending. */
  readonly confIndex: Index;
}

/** A leader's view of one follower (§5.3 matchIndex / nextIndex). */
export interface FollowerStatus {
  readonly id: NodeId;
  readonly match: Index;
  readonly next: Index;
  readonly state: 'probe' | 'replicate' | 'snapshot';
  readonly learner: boolean;
}
