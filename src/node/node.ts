/**
 * A raftkv node: hosts a replica of the shard groups it is a member of (multi-raft: at the first
 * start those the cluster file places on it, later as membership changes add and remove them;
 * the store records which), drives them
 * with one tick timer and one drive loop over one store and one transport, and offers the
 * operations the client API needs: propose a write, read linearizably or stale, and say where
 * each shard's leader is. Start-up refuses a data directory of another node or cluster.
 */

import type { Logger } from 'pino';
import type { ClusterConfig } from '../config/cluster-file.js';
import {
  checkpointLeasesMax,
  encodeCommand,
  type KVCommand,
  type KVEntry,
  type KVListPage,
  type KVResult,
  type KVStateMachine,
  leaseIdText,
} from '../kv/index.js';
import {
  encodeMembershipCommand,
  groupLabel,
  type MembershipCommand,
  MembershipMachine,
  type MembershipResult,
  type MembershipState,
  membershipGroup,
  membershipVotersWanted,
  type NodeRecord,
} from '../membership/index.js';
import { isMember } from '../raft/conf.js';
import {
  type ConfChange,
  type ConfState,
  defaultRaftTuning,
  type NodeId,
  type RaftStatus,
} from '../raft/types.js';
import { HashRing, placeShards } from '../shard/index.js';
import { type GroupId, type RaftStore, type StoreIdentity, storeFormat } from '../storage/raft-store.js';
import type { Transport } from '../transport/transport.js';
import type { GroupMessage, PeerNotice } from '../transport/wire.js';
import type { ChangeHistory } from './change-history.js';
import type { Cancel, Clock } from './clock.js';
import { DriveLoop } from './drive-loop.js';
import { badRequest, NotLeaderError, unavailable } from './errors.js';
import { type AnyGroup, Group } from './group.js';
import { checkIdentity } from './identity.js';
import { InFlightLimit } from './in-flight.js';
import { balanceEveryTicks, balanceLeaders } from './leader-balance.js';
import { leaderKnown, roleChange } from './leader-waits.js';
import { LeaseTimers } from './lease-timers.js';
import { LoopClock } from './loop-clock.js';
import { caughtUp, changeMembers } from './membership.js';
import { NodeMetrics } from './metrics.js';
import { answerCall, RemoteShardServer, remoteCallGraceMs, type ShardServer } from './remote.js';
import { ShardHistories } from './shard-histories.js';
import { type HandOver, Shutdown } from './shutdown.js';
import type { StateMachine, StateMachineFactory } from './state-machine.js';
import { groupStatus, type NodeStatus, Readiness } from './status.js';

export { StartupError } from './identity.js';
export type { GroupStatus, NodeStatus } from './status.js';

/** Where a shard's requests go from this node. */
export type ShardRoute =
  | { readonly kind: 'local' }
  | { readonly kind: 'remote'; readonly node: NodeId; readonly api: string }
  | { readonly kind: 'unknown' };

/** What an answer about a key reflects (README's API X-Raft-* headers). */
export interface Provenance {
  readonly shard: number;
  readonly node: NodeId;
  readonly term: number;
  readonly index: number;
}

export interface NodeDeps {
  readonly config: ClusterConfig;
  readonly id: NodeId;
  readonly store: RaftStore;
  /** Built once the node knows its peers; see HttpTransport. */
  readonly transport: (peers: ReadonlyMap<NodeId, string>) => Transport;
  readonly log: Logger;
  readonly onFatal: (err: Error) => void;
  /** Time and timers; a LoopClock unless a test passes its own. */
  readonly clock?: Clock;
  /**
   * Claims a new data directory's incarnation with every other node (claimOwnIdentity); `serve`
   * always passes it. Without it a new directory bootstraps at once: for tests of one process.
   */
  readonly claim?: (identity: StoreIdentity) => Promise<'bootstrap' | 'member'>;
  /**
   * This node joined a running cluster (`serve --join`): a new data directory starts with no
   * replica; the cluster adds the membership group's, then shards', as it rebalances.
   */
  readonly joined?: boolean;
}

/** NodeDeps once start() chose the clock and made the shards' change histories and lease timers. */
type StartedDeps = NodeDeps & {
  readonly clock: Clock;
  readonly histories: ShardHistories;
  readonly leaseTimers: Map<number, LeaseTimers>;
};

/** How a shard's replica makes its machine: wired to the shard's change history and lease timers. */
function shardMachine(deps: StartedDeps, shard: number): StateMachineFactory<KVStateMachine> {
  return deps.histories.machineFor(shard, (m) => {
    let timers = deps.leaseTimers.get(shard);
    if (timers === undefined) {
      timers = new LeaseTimers(() => deps.clock.now());
      deps.leaseTimers.set(shard, timers);
    }
    timers.wire(m);
  });
}

/** How often a shard's leader checkpoints what its leases have left (see LeaseTimers). */
export const leaseCheckpointMs = 5_000;
/** The most leases a shard holds; a grant beyond it is refused. */
export const leasesMax = 10_000;
/** The most expired leases a shard's leader proposes to revoke per tick. */
const revokesPerTick = 64;

/** The membership group's machine: the node table, placement and epoch. */
const membershipMachine = {
  empty: () => new MembershipMachine(),
  restore: (data: Uint8Array) => MembershipMachine.restore(data),
};

/**
 * Loads this node's replica of `group` from the store, with state machines from `machine`;
 * `initial` is the group's first configuration.
 */
function loadReplica<M extends StateMachine<unknown>>(
  deps: StartedDeps,
  group: GroupId,
  initial: ConfState,
  machine: StateMachineFactory<M>,
): Promise<Group<M>> {
  const groupDeps = { machine, clock: deps.clock };
  return Group.load(
    group,
    deps.id,
    initial,
    deps.store,
    deps.config,
    deps.log.child({ group: groupLabel(group) }),
    groupDeps,
  );
}

/**
 * The membership group's first configuration in a cluster started from a file: the first nodes
 * of the file vote (an odd number, at most five), the others follow as learners.
 */
export function initialMembershipConf(ids: readonly NodeId[]): ConfState {
  const voters = ids.slice(0, membershipVotersWanted(ids.length));
  return { voters, learners: ids.filter((id) => !voters.includes(id)) };
}

export class RaftKVNode {
  readonly id: NodeId;
  readonly config: ClusterConfig;
  readonly ring: HashRing;
  /**
   * Members of every shard as the cluster file placed them at the cluster's first start: where
   * to ask about a shard this node holds no replica of. Local replicas know their members.
   */
  readonly placement: readonly (readonly NodeId[])[];
  readonly #groups: Map<number, Group>;
  /** The node's own metrics; the API merges its registry into /metrics. */
  readonly metrics: NodeMetrics;
  /**
   * The cap on client requests in flight (`requestsInFlightMax`): propose() and linearizable
   * reads take a slot here; the API takes one for every request it forwards.
   */
  readonly inFlight: InFlightLimit;
  readonly #clock: Clock;
  readonly #startedAtMs: number;
  readonly #loop: DriveLoop;
  readonly #log: Logger;
  /** The cluster file's nodes (or, on a node that joined, the table it was given): until the table is written. */
  readonly #fileNodes: readonly NodeRecord[];
  readonly #readiness: Readiness;
  /** Hand-over, stop, and the storage failure after which nothing is stepped or acknowledged. */
  readonly #shutdown: Shutdown;
  #stopTicker: Cancel | null = null;
  #readSeq = 0;
  #ticks = 0;

  /** This node's replica of the membership group (node table, placement, epoch); null before it joins. */
  #membership: Group<MembershipMachine> | null;
  readonly #transport: Transport;

  private constructor(
    deps: StartedDeps,
    groups: Map<number, Group>,
    membership: Group<MembershipMachine> | null,
    transport: Transport,
    placement: NodeId[][],
  ) {
    this.id = deps.id;
    this.config = deps.config;
    this.ring = new HashRing(deps.config.shards);
    this.placement = placement;
    this.#groups = groups;
    this.#membership = membership;
    this.#transport = transport;
    const live = { [Symbol.iterator]: () => this.#allGroups() };
    this.#clock = deps.clock;
    this.#startedAtMs = this.#clock.now();
    this.#log = deps.log;
    this.#fileNodes = deps.config.nodes.map((n) => ({ ...n, state: 'active' as const }));
    this.#readiness = new Readiness(groups.values(), deps.config.tickMs);
    this.metrics = new NodeMetrics(
      () => ({ turns: this.#loop.turns, syncs: this.#loop.syncs }),
      () => this.inFlight.count,
      () => (this.#clock instanceof LoopClock ? this.#clock.keptTicks : 0),
      () => [...this.#groups].map(([shard, g]) => [shard, g.sm.leaseCount] as [number, number]),
    );
    this.inFlight = new InFlightLimit(deps.id, deps.config.requestsInFlightMax, () =>
      this.metrics.overloadRefused('in_flight'),
    );
    this.#loop = new DriveLoop({
      groups: live,
      store: this.metrics.timed(deps.store),
      transport,
      clock: this.#clock,
      onFatal: (err) => this.#shutdown.storageFailed(err, deps.onFatal),
    });
    this.#shutdown = new Shutdown({
      groups: live,
      loop: this.#loop,
      transport,
      store: deps.store,
      clock: this.#clock,
      log: deps.log,
      stopTicking: () => {
        this.#stopTicker?.();
        this.#stopTicker = null;
      },
      noticeWaitMs: deps.config.heartbeatTicks * deps.config.tickMs,
    });
    this.#deps = deps;
    this.#store = deps.store;
    this.#onFatal = deps.onFatal;
    for (const g of groups.values()) this.#watch(g);
    if (membership !== null) this.#watch(membership);
  }

  /** Every replica this node hosts: the shards', then the membership group's. */
  *#allGroups(): IterableIterator<AnyGroup> {
    yield* this.#groups.values();
    if (this.#membership !== null) yield this.#membership;
  }

  readonly #deps: StartedDeps;
  readonly #store: RaftStore;
  readonly #onFatal: (err: Error) => void;

  /** The replicas this node hosts, by shard; replicas come and go with membership changes. */
  get groups(): ReadonlyMap<number, Group> {
    return this.#groups;
  }

  /**
   * Checks the store's identity, loads the replicas the store records (at the first start, those
   * the cluster file places here) and starts ticking.
   */
  static async start(nodeDeps: NodeDeps): Promise<RaftKVNode> {
    const clock = nodeDeps.clock ?? new LoopClock();
    const histories = new ShardHistories(
      { events: nodeDeps.config.watchHistoryEvents, ageMs: nodeDeps.config.watchHistoryMs },
      () => clock.now(),
    );
    const deps: StartedDeps = { ...nodeDeps, clock, histories, leaseTimers: new Map() };
    const { config, id, store, log } = deps;
    const checked = await checkIdentity(store, config, id);
    let identity = checked.identity;
    const nodeIds = config.nodes.map((n) => n.id);
    const placement = placeShards(nodeIds, config.shards, config.replicas);
    if (identity.start === 'unclaimed' && deps.joined === true) {
      identity = { ...identity, start: 'member' };
      await store.setIdentity(identity);
    }
    if (identity.start === 'unclaimed') {
      identity = { ...identity, start: deps.claim === undefined ? 'bootstrap' : await deps.claim(identity) };
      await store.setIdentity(identity);
    }
    if (identity.start === 'bootstrap' || checked.format < 2) {
      // A node of a new cluster (or a store from before replica records): the cluster file's placement.
      for (const [shard, members] of placement.entries()) {
        if (members.includes(id))
          await store.createReplica(shard, { initial: { voters: members, learners: [] }, joinedAfter: 0 });
      }
    }
    if (identity.start === 'bootstrap' || checked.format < 3) {
      // A new cluster, or one from before the membership group: every node of the file hosts it.
      await store.createReplica(membershipGroup, { initial: initialMembershipConf(nodeIds), joinedAfter: 0 });
    }
    if (identity.start !== 'member' || checked.format < storeFormat)
      await store.setIdentity({ ...identity, start: 'member', format: storeFormat });
    const groups = new Map<number, Group>();
    let membership: Group<MembershipMachine> | null = null;
    const records = await store.replicas();
    for (const [shard, record] of [...records].sort((a, b) => a[0] - b[0])) {
      if (shard === membershipGroup)
        membership = await loadReplica(deps, membershipGroup, record.initial, membershipMachine);
      else groups.set(shard, await loadReplica(deps, shard, record.initial, shardMachine(deps, shard)));
    }
    // Any node of the cluster may come to host a replica of any shard.
    const peers = new Map(config.nodes.filter((n) => n.id !== id).map((n) => [n.id, n.peer]));
    const node = new RaftKVNode(deps, groups, membership, deps.transport(peers), placement);
    for (const [shard, record] of records) node.#joinedAfter.set(shard, record.joinedAfter);
    node.#stopTicker = node.#clock.every(config.tickMs, () => node.#tick());
    node.#loop.schedule();
    node.#followTable();
    log.info(
      { groups: [...groups.keys()], membership: membership !== null, clusterId: config.clusterId },
      'node started',
    );
    return node;
  }

  /** Shards whose replica here was removed: their configuration and leader as it last knew them. */
  readonly #departed = new Map<number, { readonly conf: ConfState; readonly leader: NodeId | null }>();

  /** Per local replica, ReplicaRecord.joinedAfter: configurations up to it are history. */
  readonly #joinedAfter = new Map<number, number>();

  /**
   * Wires a replica into metrics and membership: it is retired once it applies a configuration
   * without this node, from after it joined.
   */
  #watch(g: AnyGroup): void {
    if (g.id !== membershipGroup) g.observer.attach(this.metrics.groupSink(g.id));
    g.onConfApplied((conf, index) => {
      if (index > (this.#joinedAfter.get(g.id) ?? 0) && !isMember(conf, this.id)) void this.#retire(g);
    });
  }

  /**
   * This node was removed from `g`'s group and has applied that: the replica stops (waiting
   * clients are failed) and its records are deleted. A later re-add starts a new, empty replica.
   * Removed from the membership group, the node is out of the cluster.
   */
  async #retire(g: AnyGroup): Promise<void> {
    if (g.id === membershipGroup) {
      if (this.#membership !== g) return;
      this.#lastTable = g.sm.state;
      this.#membership = null;
      this.#log.warn('this node was removed from the cluster; it hosts nothing more and can be stopped');
    } else {
      if (this.#groups.get(g.id) !== g) return;
      this.#groups.delete(g.id);
      this.#departed.set(g.id, { conf: g.raft.conf(), leader: g.raft.status().leader });
      this.#deps.histories.end(g.id);
      this.#deps.leaseTimers.delete(g.id);
    }
    g.retire();
    g.waiters.failAll(`node ${this.id} no longer hosts shard ${g.id}`);
    this.#log.info({ group: g.id }, 'replica removed from the group; deleting it');
    const deleted = this.#store.deleteReplica(g.id).catch((err: Error) => {
      this.#shutdown.storageFailed(err, this.#onFatal);
    });
    this.#deleting.set(g.id, deleted);
    await deleted;
    if (this.#deleting.get(g.id) === deleted) this.#deleting.delete(g.id);
  }

  /** When the last tick ran (clock.now()); 0 before the first. */
  #tickedAt = 0;

  /** Per group, the deletion of a retired replica under way: a new replica of it waits for it. */
  readonly #deleting = new Map<number, Promise<void>>();

  #tick(): void {
    const now = this.#clock.now();
    if (this.#tickedAt !== 0) this.metrics.ticked(now - this.#tickedAt);
    this.#tickedAt = now;
    for (const g of this.#allGroups()) {
      g.raft.tick();
      g.waiters.expire(now);
    }
    this.#readiness.tick(this.groups.values());
    this.#followTable();
    if (!this.#shutdown.stopped) this.#expireLeases(now);
    if (++this.#ticks % balanceEveryTicks === 0 && !this.#shutdown.stopped) {
      // Once the table is written, only its choices count (none: leave the leader be).
      const table = this.membership();
      balanceLeaders(
        this.id,
        this.groups.values(),
        this.#log,
        (shard) => (table.epoch === 0 ? undefined : (table.shards[shard]?.leader ?? null)),
        (member) => this.#shutdown.staying(member),
      );
      this.#bootstrapMembership();
    }
    this.#loop.schedule();
  }

  /** When this node last checkpointed its shards' leases (clock.now()). */
  #checkpointedAt = 0;

  /**
   * On each shard this node leads, proposes the revocation of every lease past its deadline
   * (LeaseTimers), and every `leaseCheckpointMs` a checkpoint of what the leases have left. Only
   * once the leader applied an entry of its own term: before that it may not have applied the
   * keepalives its predecessor committed, and would expire a lease early.
   */
  #expireLeases(now: number): void {
    const checkpoint = now - this.#checkpointedAt >= leaseCheckpointMs;
    if (checkpoint) this.#checkpointedAt = now;
    for (const [shard, g] of this.#groups) {
      const timers = this.#deps.leaseTimers.get(shard);
      if (timers === undefined || timers.size === 0) continue;
      const { role, term } = g.raft.status();
      if (role !== 'leader' || g.raft.termAt(g.applied) !== term) continue;
      for (const lease of timers.due(revokesPerTick, this.config.requestTimeoutMs)) {
        this.propose(shard, { op: 'leaseRevoke', lease, expired: true }).then(
          ({ result, at }) => {
            if (!result.ok) return;
            this.metrics.leaseExpired(shard);
            this.#log.info(
              { shard, lease: leaseIdText(lease), index: at.index },
              'lease expired; its keys deleted',
            );
          },
          (err: Error) => {
            timers.revokeFailed(lease);
            this.#log.debug(
              { shard, lease: leaseIdText(lease), err: err.message },
              'lease expiry not applied; trying again',
            );
          },
        );
      }
      if (!checkpoint) continue;
      const { leases, remainingMs } = timers.checkpoints(leaseCheckpointMs);
      for (let i = 0; i < leases.length; i += checkpointLeasesMax) {
        const cmd = {
          op: 'leaseCheckpoint' as const,
          asOf: g.applied,
          leases: leases.slice(i, i + checkpointLeasesMax),
          remainingMs: remainingMs.slice(i, i + checkpointLeasesMax),
        };
        this.propose(shard, cmd).catch((err: Error) =>
          this.#log.debug({ shard, err: err.message }, 'lease checkpoint not applied'),
        );
      }
    }
  }

  /** The epoch of the node table the transport was last given peers from. */
  #followedEpoch = -1;

  /** Gives the transport every node's peer URL whenever the node table changed. */
  #followTable(): void {
    const epoch = this.epoch;
    if (epoch === this.#followedEpoch) return;
    this.#followedEpoch = epoch;
    this.#transport.setPeers?.(
      new Map(
        this.nodes()
          .filter((n) => n.id !== this.id)
          .map((n) => [n.id, n.peer]),
      ),
    );
  }

  /**
   * The membership group's first leader writes the cluster file's nodes and placement as the
   * table's first state (epoch 1); every node of the file would write the same.
   */
  #bootstrapMembership(): void {
    const m = this.#membership;
    if (m === null || m.sm.state.epoch !== 0 || m.raft.status().role !== 'leader') return;
    if (this.#bootstrapping) return;
    this.#bootstrapping = true;
    const nodes = this.#fileNodes;
    const shards = this.placement.map((voters) => ({
      voters: [...voters],
      learners: [],
      leader: voters[0] ?? null,
    }));
    void this.proposeMembership({ op: 'bootstrap', nodes, shards })
      .catch((err) => this.#log.warn({ err }, 'could not write the first membership yet; trying again'))
      .finally(() => {
        this.#bootstrapping = false;
      });
  }

  #bootstrapping = false;

  /** The node table, placement and epoch as this node's replica has applied them. */
  membership(): MembershipState {
    return this.#membership?.sm.state ?? this.#lastTable;
  }

  /** The table as it was when this node left the membership group: it still routes by it. */
  #lastTable: MembershipState = { epoch: 0, nodes: [], shards: [] };

  /** The membership epoch this node has applied: rises with every change of nodes or placement. */
  get epoch(): number {
    return this.membership().epoch;
  }

  /** The cluster's nodes: the table once written, else the cluster file's (or the join answer's). */
  nodes(): readonly NodeRecord[] {
    const table = this.membership();
    return table.epoch === 0 ? this.#fileNodes : table.nodes;
  }

  /**
   * Proposes a change of the node table or placement on the membership group, which this node
   * must lead, and resolves with its result once applied. Throws NotLeaderError otherwise.
   */
  async proposeMembership(cmd: MembershipCommand): Promise<MembershipResult> {
    this.#checkServing();
    const g = this.#membership;
    if (g === null) throw unavailable(`node ${this.id} is not a member of the cluster`);
    const res = g.raft.propose(encodeMembershipCommand(cmd));
    if (!res.ok) {
      if (res.reason === 'notLeader' || res.reason === 'transferring')
        throw new NotLeaderError(membershipGroup);
      throw unavailable(`the membership leader is ${res.reason}; nothing was changed`);
    }
    this.#loop.schedule();
    return g.waiters.waitProposal(res.index, res.term, this.#clock.now() + this.config.requestTimeoutMs);
  }

  /** Whether this node leads the membership group (and so runs the rebalancer). */
  leadsMembership(): boolean {
    return this.#membership?.raft.status().role === 'leader';
  }

  /** The membership group's configuration as this node knows it, or null when it hosts none. */
  membershipConf(): ConfState | null {
    return this.#membership?.raft.conf() ?? null;
  }

  /**
   * Creates an empty replica of `shard` here, to be added to the group as a learner: `initial`
   * is the configuration that adds it (this node among its learners), which holds until the
   * leader's log or snapshot replaces it; `joinedAfter` the leader's last index before it
   * proposes the addition (see ReplicaRecord). Done already if the replica exists. Called by the
   * shard's leader before it proposes the change (README's API "Changing the cluster").
   */
  async hostReplica(shard: number, initial: ConfState, joinedAfter: number): Promise<void> {
    this.#checkServing();
    const membership = shard === membershipGroup;
    if (!membership && (!Number.isInteger(shard) || shard < 0 || shard >= this.config.shards))
      throw badRequest(`shard ${shard} does not exist (this cluster has ${this.config.shards})`);
    if (!initial.learners.includes(this.id) || initial.voters.includes(this.id))
      throw badRequest(`a new replica of shard ${shard} on node ${this.id} must join as a learner`);
    const hosted = () => (membership ? this.#membership !== null : this.#groups.has(shard));
    await this.#deleting.get(shard);
    if (hosted()) {
      // A replica from before (its removal never reached it): it joins again from here, so the
      // configurations up to now are history for it too, and no sweep for strays may drop it.
      if (joinedAfter > (this.#joinedAfter.get(shard) ?? 0)) {
        this.#joinedAfter.set(shard, joinedAfter);
        const record = (await this.#store.replicas()).get(shard);
        if (record !== undefined) await this.#store.createReplica(shard, { ...record, joinedAfter });
      }
      return;
    }
    await this.#store.createReplica(shard, { initial, joinedAfter });
    if (hosted()) return;
    this.#joinedAfter.set(shard, joinedAfter);
    if (membership) {
      const m = await loadReplica(this.#deps, membershipGroup, initial, membershipMachine);
      this.#membership = m;
      this.#watch(m);
    } else {
      const g = await loadReplica(this.#deps, shard, initial, shardMachine(this.#deps, shard));
      this.#groups.set(shard, g);
      this.#departed.delete(shard);
      this.#readiness.add(g);
      this.#watch(g);
    }
    this.#log.info(
      { group: shard, voters: initial.voters, learners: initial.learners },
      'replica created to join the group',
    );
    this.#loop.schedule();
  }

  /**
   * Undoes hostReplica() when the addition was not proposed after all: deletes the replica of
   * `shard` if it never heard from a leader (nothing in its log, no snapshot). A replica that
   * did is left alone: its removal goes through the group.
   */
  async dropUnjoinedReplica(shard: number): Promise<boolean> {
    this.#checkServing();
    const g = shard === membershipGroup ? (this.#membership ?? undefined) : this.#groups.get(shard);
    if (g === undefined) return false;
    const s = g.raft.status();
    if (s.lastIndex !== 0 || s.snapshotIndex !== 0 || s.leader !== null) return false;
    await this.#retire(g);
    return true;
  }

  /**
   * Proposes one membership change of `shard`, which this node must lead, and resolves with the
   * configuration once it is applied. Throws NotLeaderError when it does not lead (nothing done).
   */
  async changeMembers(shard: number, change: ConfChange, onProposed?: () => void): Promise<ConfState> {
    const g = this.#anyGroup(shard);
    return changeMembers(g, change, {
      ...(onProposed === undefined ? {} : { onProposed }),
      schedule: () => this.#loop.schedule(),
      deadlineMs: this.#clock.now() + this.config.requestTimeoutMs,
      clock: this.#clock,
      pollMs: this.config.tickMs,
      settleMs: this.config.electionTicks * this.config.tickMs,
    });
  }

  /** Resolves once learner `node` of `shard` (led here) is close enough to be promoted. */
  async learnerCaughtUp(shard: number, node: NodeId, waitMs: number): Promise<void> {
    const g = this.#anyGroup(shard);
    await caughtUp(g, node, {
      lagMax: defaultRaftTuning.promoteLagMax,
      deadlineMs: this.#clock.now() + waitMs,
      clock: this.#clock,
      pollMs: this.config.tickMs,
    });
  }

  /**
   * Before this node's own replica of `shard` is removed: hands leadership to the most
   * up-to-date voter and resolves once this node no longer leads (or after `waitMs`), so the
   * removal is proposed by the next leader and clients see no gap. Nothing to do when not leader.
   */
  async handShardOver(shard: number, waitMs: number): Promise<void> {
    const g = this.#anyGroup(shard);
    const to = g.bestTransferee();
    if (g.raft.status().role !== 'leader' || to === null || !g.raft.transferLeadership(to).ok) return;
    g.observer.transferNoted();
    this.#loop.schedule();
    await roleChange(g, waitMs, this.#clock);
  }

  /**
   * Local replicas the node table no longer places here (this node was removed from them while
   * it was down or cut off, and never heard): candidates for dropRemovedReplica.
   */
  strayReplicas(): number[] {
    const table = this.membership();
    if (table.epoch === 0) return [];
    return [...this.#groups.values()]
      .filter((g) => {
        const placed = table.shards[g.id];
        return placed !== undefined && !isMember(placed, this.id) && g.raft.status().role !== 'leader';
      })
      .map((g) => g.id);
  }

  /**
   * Deletes the local replica of `shard` when the group's committed configuration `conf` (at
   * `confIndex`, from its leader) no longer has this node and is newer than this replica's
   * joining: the removal committed without this node hearing of it. True if it was deleted.
   */
  async dropRemovedReplica(shard: number, conf: ConfState, confIndex: number): Promise<boolean> {
    this.#checkServing();
    const g = this.#groups.get(shard);
    if (g === undefined || isMember(conf, this.id) || confIndex <= (this.#joinedAfter.get(shard) ?? 0))
      return false;
    this.#log.info(
      { group: shard, voters: conf.voters, confIndex },
      'the group removed this replica while it was away',
    );
    await this.#retire(g);
    return true;
  }

  /** The Raft status of the local replica of `shard` (or of the membership group), null if none. */
  groupStatus(shard: number): RaftStatus | null {
    const g = shard === membershipGroup ? this.#membership : this.#groups.get(shard);
    return g?.raft.status() ?? null;
  }

  /** The last index of the local replica of `shard` (which must exist). */
  lastIndex(shard: number): number {
    return this.#anyGroup(shard).raft.status().lastIndex;
  }

  /** Whether `node` is a voter or learner of any replica this node hosts (as each knows it). */
  hostsMember(node: NodeId): boolean {
    for (const g of this.#allGroups()) if (isMember(g.raft.conf(), node)) return true;
    return false;
  }

  /** The configuration of a local replica of `shard`, or null when this node holds none. */
  members(shard: number): ConfState | null {
    if (shard === membershipGroup) return this.membershipConf();
    return this.#groups.get(shard)?.raft.conf() ?? null;
  }

  /** The client API URL of `node`, or null for a node the cluster does not know. */
  apiOf(node: NodeId): string | null {
    return this.nodes().find((n) => n.id === node)?.api ?? null;
  }

  #checkServing(): void {
    if (this.#shutdown.stopped) throw unavailable(`node ${this.id} is shutting down`);
    if (this.#shutdown.failure !== null)
      throw unavailable(`node ${this.id} cannot persist writes and is stopping`);
  }

  /** Messages from peers (already validated by the transport). */
  receive(from: NodeId, msgs: readonly GroupMessage[]): void {
    if (this.#shutdown.stopped || this.#shutdown.failure !== null) return;
    for (const { group, msg } of msgs) {
      if (msg.from !== from) continue;
      if (this.#shutdown.handingOver && msg.type === 'timeoutNow') continue;
      const g = group === membershipGroup ? this.#membership : this.#groups.get(group);
      if (msg.type === 'timeoutNow') g?.observer.transferNoted();
      g?.raft.step(msg);
    }
    this.#loop.schedule();
    // After the messages: a heartbeat in them counts before a tick held back by a busy loop.
    this.keepTime();
  }

  /**
   * Called as I/O reaches the node (a client connection or request, a peer's frame or call):
   * runs the tick if a busy event loop holds it back, so heartbeats keep leaving under any client
   * load (LoopClock).
   */
  keepTime(): void {
    this.#clock.keepTime?.();
  }

  shardOf(key: string): number {
    return this.ring.shardOf(key);
  }

  /** Where requests for `shard` go: here if we lead it, else its known leader, else a member to ask. */
  route(shard: number): ShardRoute {
    const g = shard === membershipGroup ? (this.#membership ?? undefined) : this.groups.get(shard);
    if (g !== undefined) {
      const { role, leader } = g.raft.status();
      if (role === 'leader') return { kind: 'local' };
      // A stopping node no longer hears from the new leader; it knows whom it handed over to.
      const next = leader ?? this.#shutdown.handedTo(shard);
      const api = next === null ? null : this.apiOf(next);
      if (next === null || api === null) return { kind: 'unknown' };
      return { kind: 'remote', node: next, api };
    }
    // No replica here: the node that last served it, the leader and members our replica last
    // knew before it was removed, the table's placement, else the cluster file's; never this node.
    const departed = this.#departed.get(shard);
    const served = this.#servedBy.get(shard);
    const placed = this.membership().shards[shard];
    const candidates = [
      ...(served === undefined ? [] : [served]),
      ...(departed?.leader === null || departed === undefined ? [] : [departed.leader]),
      ...(placed?.leader === null || placed === undefined ? [] : [placed.leader]),
      ...(placed?.voters ?? []),
      ...(departed?.conf.voters ?? []),
      ...(this.placement[shard] ?? []),
    ].filter((id) => id !== this.id && this.apiOf(id) !== null);
    const member = candidates[0];
    return member === undefined
      ? { kind: 'unknown' }
      : { kind: 'remote', node: member, api: this.apiOf(member)! };
  }

  /**
   * A forwarded request about `shard` was answered by `node` (its reply's provenance): where
   * requests for a shard this node holds no replica of go first from now on.
   */
  noteServedBy(shard: number, node: NodeId): void {
    if (!this.#groups.has(shard) && node !== this.id && this.apiOf(node) !== null)
      this.#servedBy.set(shard, node);
  }

  /** Per shard without a replica here: the node that last served a request forwarded for it. */
  readonly #servedBy = new Map<number, NodeId>();

  /**
   * What this node knows of a shard it holds no replica of: the configuration and leader its
   * replica last knew when it was removed, or null (then only the cluster file's placement).
   */
  departedShard(shard: number): { readonly conf: ConfState; readonly leader: NodeId | null } | null {
    return this.#departed.get(shard) ?? null;
  }

  /**
   * Proposes a write on a shard we lead and waits until it is applied. Throws KVError; at the
   * in-flight cap `unavailable` before anything is proposed.
   */
  async propose(shard: number, cmd: KVCommand): Promise<{ result: KVResult; at: Provenance }> {
    const g = this.#group(shard);
    return this.inFlight.run(() => this.#propose(g, shard, cmd));
  }

  async #propose(g: Group, shard: number, cmd: KVCommand): Promise<{ result: KVResult; at: Provenance }> {
    if (cmd.op === 'leaseGrant' && g.sm.leaseCount >= leasesMax)
      throw unavailable(`shard ${shard} holds ${leasesMax} leases, the most it may; revoke some first`);
    const data = encodeCommand(cmd);
    let res = g.raft.propose(data);
    if (!res.ok && res.reason === 'transferring') {
      // Leadership is moving: wait (bounded by the transfer's own timeout) and try once more.
      await roleChange(g, this.config.electionTicks * this.config.tickMs, this.#clock);
      this.#group(shard); // throws if the node stopped or failed meanwhile
      res = g.raft.propose(data);
    }
    if (!res.ok) {
      this.metrics.proposal(shard, 'refused');
      if (res.reason === 'notLeader' || res.reason === 'transferring') throw new NotLeaderError(shard);
      throw unavailable(`the shard leader is ${res.reason}; nothing was written`);
    }
    this.#loop.schedule();
    // A measurement for the commit-latency histogram only (sub-millisecond), never a decision.
    const proposedMs = performance.now();
    let result: KVResult;
    try {
      result = await g.waiters.waitProposal(
        res.index,
        res.term,
        this.#clock.now() + this.config.requestTimeoutMs,
      );
    } catch (err) {
      this.metrics.proposal(shard, 'failed');
      throw err;
    }
    this.metrics.proposal(shard, 'applied', (performance.now() - proposedMs) / 1000);
    return { result, at: { shard, node: this.id, term: res.term, index: res.index } };
  }

  /**
   * The leader of a shard on `node`, reached by calls on the peer stream (remote.ts), or null
   * when the transport has no calls. Each call holds a slot of this node's in-flight cap while
   * it waits, so a node flooded with requests for shards it does not lead refuses them (503)
   * instead of queueing them without bound.
   */
  remoteServer(node: NodeId): ShardServer | null {
    const transport = this.#transport;
    if (transport.call === undefined) return null;
    const timeoutMs = this.config.requestTimeoutMs + remoteCallGraceMs;
    return new RemoteShardServer(
      node,
      (to, payload) => this.inFlight.run(() => transport.call!(to, payload, timeoutMs)),
      (at) => this.noteServedBy(at.shard, at.node),
    );
  }

  /** Answers another node's call (remote.ts) as this node's own API would serve it. */
  answerCall(payload: Uint8Array): Promise<Uint8Array> {
    this.keepTime();
    return answerCall(
      {
        propose: (s, c) => this.propose(s, c),
        read: (s, k, c) => this.read(s, k, c),
        hosts: (s) => this.#groups.has(s),
      },
      (shard) => {
        const r = this.route(shard);
        return r.kind === 'remote' ? r.node : null;
      },
      payload,
    );
  }

  /** Reads a key: linearizable (ReadIndex on the leader) or stale (this replica's state). */
  async read(
    shard: number,
    key: string,
    consistency: 'linearizable' | 'stale',
  ): Promise<{ entry: KVEntry | null; at: Provenance }> {
    const g = this.#group(shard);
    if (consistency === 'linearizable') await this.#confirmRead(g);
    g.observer.readServed();
    return { entry: g.sm.get(key), at: this.#provenance(g) };
  }

  /** Lists keys of one shard by prefix (linearizable unless stale). */
  async list(
    shard: number,
    prefix: string,
    after: string | null,
    limit: number,
    consistency: 'linearizable' | 'stale',
  ): Promise<{ page: KVListPage; at: Provenance }> {
    const g = this.#group(shard);
    if (consistency === 'linearizable') await this.#confirmRead(g);
    return { page: g.sm.list(prefix, after, limit), at: this.#provenance(g) };
  }

  /**
   * The shard's whole state for a backup, linearizable: as leader, ReadIndex confirms that it
   * leads and the state has applied every write acknowledged before the call; the snapshot is
   * then taken at once, at the applied index it records (which may be later still).
   */
  async backupShard(shard: number): Promise<{ index: number; term: number; keys: number; data: Uint8Array }> {
    const g = this.#group(shard);
    if (g.raft.status().role !== 'leader') throw new NotLeaderError(shard);
    await this.#confirmRead(g);
    const { index, term } = g.raft.snapshotMeta(g.applied);
    return { index, term, keys: g.sm.size, data: g.sm.snapshot() };
  }

  /**
   * The recent changes of the shard's replica here, for watchers, with the index it has applied;
   * null when this node hosts no replica of it.
   */
  changesOf(shard: number): { readonly history: ChangeHistory; readonly applied: () => number } | null {
    const g = this.#groups.get(shard);
    if (g === undefined || this.#shutdown.stopped) return null;
    return { history: this.#deps.histories.of(shard), applied: () => g.applied };
  }

  /** ReadIndex (§6.4) and the wait until applied; holds an in-flight slot throughout. */
  async #confirmRead(g: Group): Promise<void> {
    return this.inFlight.run(() => this.#readIndex(g));
  }

  async #readIndex(g: Group): Promise<void> {
    const ctx = String(++this.#readSeq);
    const res = g.raft.readIndex(ctx);
    if (!res.ok) {
      if (res.reason === 'notLeader') throw new NotLeaderError(g.id);
      throw unavailable('too many reads waiting');
    }
    this.#loop.schedule();
    await g.waiters.waitRead(ctx, this.#clock.now() + this.config.requestTimeoutMs);
  }

  #provenance(g: Group): Provenance {
    return { shard: g.id, node: this.id, term: g.raft.status().term, index: g.applied };
  }

  #group(shard: number): Group {
    this.#checkServing();
    const g = this.#groups.get(shard);
    if (g === undefined) throw unavailable(`shard ${shard} has no replica on node ${this.id}`);
    return g;
  }

  /** A shard's replica here, or the membership group's. */
  #anyGroup(shard: number): AnyGroup {
    if (shard !== membershipGroup) return this.#group(shard);
    this.#checkServing();
    if (this.#membership === null) throw unavailable(`node ${this.id} is not a member of the cluster`);
    return this.#membership;
  }

  /**
   * Per local group: role, term, leader, commit/applied/last/snapshot index; on a leader each
   * follower's match index and lag; what the observer saw (rates, leader changes with their
   * unavailability windows). Also this process's PID and clock.
   */
  status(): NodeStatus {
    return {
      id: this.id,
      pid: process.pid,
      nowMs: this.#clock.now(),
      startedAtMs: this.#startedAtMs,
      groups: [...this.groups.values()].map(groupStatus),
    };
  }

  /** /readyz: see Readiness. */
  ready(): boolean {
    return this.#readiness.ready(this.groups.values());
  }

  /**
   * Resolves once this node's replica of `shard` knows a leader (at once if it does), or after
   * `waitMs`: a request that arrives in the moment between an election and the new leader's first
   * message waits for it rather than fail.
   */
  async awaitLeader(shard: number, waitMs: number): Promise<void> {
    const g = shard === membershipGroup ? (this.#membership ?? undefined) : this.groups.get(shard);
    if (g !== undefined) await leaderKnown(g, waitMs, this.#clock);
  }

  /**
   * How long a request waits for a leader it does not know yet: two heartbeat intervals, enough
   * for a new leader's first message to arrive, short enough that "no leader" still fails fast.
   */
  get leaderWaitMs(): number {
    return 2 * this.config.heartbeatTicks * this.config.tickMs;
  }

  /** First half of SIGTERM (Shutdown.handOver): leadership moves away while the node still serves. */
  handOver(waitMs: number): Promise<HandOver> {
    return this.#shutdown.handOver(waitMs);
  }

  /**
   * Every connection to `peer` was refused or reset (transport/peer-presence.ts): its process is
   * gone. Each group this node follows `peer` in campaigns soon (Raft.peerGone, with pre-vote).
   */
  peerGone(peer: NodeId): void {
    if (this.#shutdown.stopped || this.#shutdown.failure !== null) return;
    for (const g of this.#allGroups()) {
      if (g.raft.status().leader !== peer) continue;
      g.observer.leaderGoneNoted();
      g.raft.peerGone(peer);
    }
    this.#loop.schedule();
  }

  /** `peer` opened a new stream to this node: a peer that said it was stopping has started again. */
  peerStream(peer: NodeId): void {
    this.#shutdown.peerBack(peer);
  }

  /** What a peer said of itself on its stream. */
  peerNotice(from: NodeId, notice: PeerNotice): void {
    if (notice === 'stopping') this.#shutdown.peerStopping(from);
  }

  /** Second half (Shutdown.shutdown): stop, finish the running turn, fail waiting clients, close. */
  shutdown(): Promise<void> {
    return this.#shutdown.shutdown();
  }

  /** handOver() then shutdown(). */
  async stop(opts: { readonly transferMs: number }): Promise<void> {
    await this.handOver(opts.transferMs);
    await this.shutdown();
  }
}
