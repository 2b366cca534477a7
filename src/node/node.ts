/**
 * A raftkv node: hosts every shard group the cluster file places on it (multi-raft), drives them
 * with one tick timer and one drive loop over one store and one transport, and offers the
 * operations the client API needs: propose a write, read linearizably or stale, and say where
 * each shard's leader is. Start-up refuses a data directory of another node or cluster.
 */

import type { Logger } from 'pino';
import type { ClusterConfig } from '../config/cluster-file.js';
import {
  encodeCommand,
  type KVCommand,
  type KVEntry,
  type KVListPage,
  type KVResult,
  KVStateMachine,
} from '../kv/index.js';
import type { FollowerStatus, NodeId, RaftStatus } from '../raft/types.js';
import { HashRing, placeShards } from '../shard/index.js';
import { type RaftStore, storeFormat } from '../storage/raft-store.js';
import type { Transport } from '../transport/transport.js';
import type { GroupMessage } from '../transport/wire.js';
import { systemClock } from './clock.js';
import { CommitTrail } from './commit-trail.js';
import { DriveLoop } from './drive-loop.js';
import { NotLeaderError, unavailable } from './errors.js';
import { Group } from './group.js';
import { InFlightLimit } from './in-flight.js';
import { NodeMetrics } from './metrics.js';
import type { GroupActivity } from './observer.js';

/** How this node's groups make their state machine, the key-value store: empty or from a snapshot. */
const kvMachine = {
  empty: () => new KVStateMachine(),
  restore: (data: Uint8Array) => KVStateMachine.restore(data),
};

/** How often (in ticks) a leader checks whether the shard's preferred leader should take over. */
const balanceEveryTicks = 25;
/** A preferred leader this far behind is left to catch up before leadership moves to it. */
const balanceLagEntriesMax = 1_000;
/**
 * A ready replica has applied everything committed this long ago: under a steady stream of writes
 * the commit index is always a turn ahead of the applied index, which is not being behind.
 */
const readyApplyLagMs = 1_000;

/** Where a shard's requests go from this node. */
export type ShardRoute =
  | { readonly kind: 'local' }
  | { readonly kind: 'remote'; readonly node: NodeId; readonly api: string }
  | { readonly kind: 'unknown' };

/** What an answer about a key reflects (API.md X-Raft-* headers). */
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
}

/** One local group in GET /v1/status. */
export type GroupStatus = RaftStatus &
  GroupActivity & {
    readonly shard: number;
    readonly members: readonly NodeId[];
    /** Leader only; empty on other roles. */
    readonly followers: readonly (FollowerStatus & { readonly lag: number })[];
  };

/** GET /v1/status. */
export interface NodeStatus {
  readonly id: NodeId;
  readonly pid: number;
  /** This node's wall clock when it answered (ms since the epoch). */
  readonly nowMs: number;
  readonly startedAtMs: number;
  readonly groups: GroupStatus[];
}

/** A data directory or a cluster file that this node must not start with. */
export class StartupError extends Error {
  override readonly name = 'StartupError';
}

export class RaftKVNode {
  readonly id: NodeId;
  readonly config: ClusterConfig;
  readonly ring: HashRing;
  /** Members of every shard, indexed by shard. */
  readonly placement: readonly (readonly NodeId[])[];
  readonly groups: ReadonlyMap<number, Group>;
  /** The node's own metrics; the API merges its registry into /metrics. */
  readonly metrics: NodeMetrics;
  /**
   * The cap on client requests in flight (`requestsInFlightMax`): propose() and linearizable
   * reads take a slot here; the API takes one for every request it forwards.
   */
  readonly inFlight: InFlightLimit;
  readonly #startedAtMs = Date.now();
  readonly #loop: DriveLoop;
  readonly #store: RaftStore;
  readonly #transport: Transport;
  readonly #log: Logger;
  readonly #apiOf: ReadonlyMap<NodeId, string>;
  /** Per group, its commit index over the last readyApplyLagMs (see ready()). */
  readonly #commitTrails = new Map<number, CommitTrail>();
  #ticker: NodeJS.Timeout | null = null;
  #readSeq = 0;
  #handingOver = false;
  /** Groups whose leadership this node handed over when stopping, and to whom. */
  readonly #handedTo = new Map<number, NodeId>();
  #ticks = 0;
  #stopped = false;
  /** The store failed: from then on this node steps nothing and acknowledges nothing. */
  #failure: Error | null = null;

  private constructor(
    deps: NodeDeps,
    groups: Map<number, Group>,
    transport: Transport,
    placement: NodeId[][],
  ) {
    this.id = deps.id;
    this.config = deps.config;
    this.ring = new HashRing(deps.config.shards);
    this.placement = placement;
    this.groups = groups;
    this.#store = deps.store;
    this.#transport = transport;
    this.#log = deps.log;
    this.#apiOf = new Map(deps.config.nodes.map((n) => [n.id, n.api]));
    for (const id of groups.keys())
      this.#commitTrails.set(id, new CommitTrail(Math.ceil(readyApplyLagMs / deps.config.tickMs)));
    this.metrics = new NodeMetrics(
      () => ({ turns: this.#loop.turns, syncs: this.#loop.syncs }),
      () => this.inFlight.count,
    );
    this.inFlight = new InFlightLimit(deps.id, deps.config.requestsInFlightMax, () =>
      this.metrics.overloadRefused('in_flight'),
    );
    for (const g of groups.values()) g.observer.attach(this.metrics.groupSink(g.id));
    this.#loop = new DriveLoop({
      groups: [...groups.values()],
      store: this.metrics.timed(deps.store),
      transport,
      clock: systemClock,
      onFatal: (err) => this.#storageFailed(err, deps.onFatal),
    });
  }

  /** Checks the store's identity, loads this node's groups and starts ticking. */
  static async start(deps: NodeDeps): Promise<RaftKVNode> {
    const { config, id, store, log } = deps;
    const identity = await store.identity();
    if (identity === null) {
      await store.setIdentity({ clusterId: config.clusterId, nodeId: id, format: storeFormat });
    } else if (identity.format > storeFormat) {
      throw new StartupError(
        `data directory has format ${identity.format}, newer than this build's ${storeFormat}`,
      );
    } else if (identity.clusterId !== config.clusterId) {
      throw new StartupError(
        `data directory belongs to cluster ${identity.clusterId}, not ${config.clusterId} of this cluster file`,
      );
    } else if (identity.nodeId !== id) {
      throw new StartupError(`data directory belongs to node ${identity.nodeId}, not ${id}`);
    }
    const nodeIds = config.nodes.map((n) => n.id);
    const placement = placeShards(nodeIds, config.shards, config.replicas);
    const groups = new Map<number, Group>();
    for (const [shard, members] of placement.entries()) {
      if (!members.includes(id)) continue;
      const deps = { machine: kvMachine, clock: systemClock };
      groups.set(
        shard,
        await Group.load(shard, id, members, store, config, log.child({ group: shard }), deps),
      );
    }
    const peers = new Map(
      config.nodes
        .filter((n) => n.id !== id && placement.some((m) => m.includes(n.id)))
        .map((n) => [n.id, n.peer]),
    );
    const node = new RaftKVNode(deps, groups, deps.transport(peers), placement);
    node.#ticker = setInterval(() => node.#tick(), config.tickMs);
    node.#loop.schedule();
    log.info({ groups: [...groups.keys()], clusterId: config.clusterId }, 'node started');
    return node;
  }

  #tick(): void {
    for (const g of this.groups.values()) {
      g.raft.tick();
      g.waiters.expire(Date.now());
      this.#commitTrails.get(g.id)?.note(g.raft.status().commit);
    }
    if (++this.#ticks % balanceEveryTicks === 0) this.#balanceLeaders();
    this.#loop.schedule();
  }

  /**
   * Leaders spread evenly: each shard's first member (placement spreads them over the nodes) is
   * its preferred leader. A leader that is not the preferred one hands over once the preferred
   * member is replicating and close behind, e.g. after a failover and the failed node's return.
   */
  #balanceLeaders(): void {
    if (this.#stopped) return;
    for (const g of this.groups.values()) {
      const preferred = g.members[0];
      if (preferred === undefined || preferred === this.id) continue;
      const s = g.raft.status();
      if (s.role !== 'leader' || s.transferee !== null) continue;
      const f = g.raft.followers().find((x) => x.id === preferred);
      // The transfer itself catches the target up; only a member already replicating closely is asked.
      if (f === undefined || f.state !== 'replicate' || s.lastIndex - f.match > balanceLagEntriesMax)
        continue;
      this.#log.info({ group: g.id, to: preferred }, 'handing leadership to the preferred leader');
      if (g.raft.transferLeadership(preferred).ok) g.observer.transferNoted();
    }
  }

  /** Messages from peers (already validated by the transport). */
  receive(from: NodeId, msgs: readonly GroupMessage[]): void {
    if (this.#stopped || this.#failure !== null) return;
    for (const { group, msg } of msgs) {
      if (msg.from !== from) continue;
      if (this.#handingOver && msg.type === 'timeoutNow') continue;
      if (msg.type === 'timeoutNow') this.groups.get(group)?.observer.transferNoted();
      this.groups.get(group)?.raft.step(msg);
    }
    this.#loop.schedule();
  }

  shardOf(key: string): number {
    return this.ring.shardOf(key);
  }

  /** Where requests for `shard` go: here if we lead it, else its known leader, else a member to ask. */
  route(shard: number): ShardRoute {
    const g = this.groups.get(shard);
    if (g !== undefined) {
      const { role, leader } = g.raft.status();
      if (role === 'leader') return { kind: 'local' };
      // A stopping node no longer hears from the new leader; it knows whom it handed over to.
      const next = leader ?? this.#handedTo.get(shard) ?? null;
      if (next === null) return { kind: 'unknown' };
      return { kind: 'remote', node: next, api: this.#apiOf.get(next)! };
    }
    const member = this.placement[shard]?.[0];
    return member === undefined
      ? { kind: 'unknown' }
      : { kind: 'remote', node: member, api: this.#apiOf.get(member)! };
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
    const data = encodeCommand(cmd);
    let res = g.raft.propose(data);
    if (!res.ok && res.reason === 'transferring') {
      // Leadership is moving: wait (bounded by the transfer's own timeout) and try once more.
      await this.#roleChange(g, this.config.electionTicks * this.config.tickMs);
      this.#group(shard); // throws if the node stopped or failed meanwhile
      res = g.raft.propose(data);
    }
    if (!res.ok) {
      this.metrics.proposal(shard, 'refused');
      if (res.reason === 'notLeader' || res.reason === 'transferring') throw new NotLeaderError(shard);
      throw unavailable(`the shard leader is ${res.reason}; nothing was written`);
    }
    this.#loop.schedule();
    const proposedMs = performance.now();
    let result: KVResult;
    try {
      result = await g.waiters.waitProposal(res.index, res.term, Date.now() + this.config.requestTimeoutMs);
    } catch (err) {
      this.metrics.proposal(shard, 'failed');
      throw err;
    }
    this.metrics.proposal(shard, 'applied', (performance.now() - proposedMs) / 1000);
    return { result, at: { shard, node: this.id, term: res.term, index: res.index } };
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
    await g.waiters.waitRead(ctx, Date.now() + this.config.requestTimeoutMs);
  }

  #provenance(g: Group): Provenance {
    return { shard: g.id, node: this.id, term: g.raft.status().term, index: g.applied };
  }

  #group(shard: number): Group {
    if (this.#stopped) throw unavailable(`node ${this.id} is shutting down`);
    if (this.#failure !== null) throw unavailable(`node ${this.id} cannot persist writes and is stopping`);
    const g = this.groups.get(shard);
    if (g === undefined) throw unavailable(`shard ${shard} has no replica on node ${this.id}`);
    return g;
  }

  /**
   * Per local group: role, term, leader, commit/applied/last/snapshot index; on a leader each
   * follower's match index and lag (lastIndex - match); what the observer saw (rates, leader
   * changes with their unavailability windows). Also this process's PID and clock.
   */
  status(): NodeStatus {
    return {
      id: this.id,
      pid: process.pid,
      nowMs: Date.now(),
      startedAtMs: this.#startedAtMs,
      groups: [...this.groups.values()].map((g) => {
        const s = g.raft.status();
        const followers = g.raft.followers().map((f) => ({ ...f, lag: Math.max(0, s.lastIndex - f.match) }));
        return { shard: g.id, members: g.members, ...s, followers, ...g.observer.activity() };
      }),
    };
  }

  /**
   * API.md /readyz: every local group knows a leader and has applied its commit index: all of
   * it, or at least the commit index it had `readyApplyLagMs` ago (writes that commit while a
   * turn applies the ones before them do not make a replica unready; one that falls behind does).
   */
  ready(): boolean {
    return [...this.groups.values()].every((g) => {
      const s = g.raft.status();
      if (s.leader === null) return false;
      const before = this.#commitTrails.get(g.id)?.oldest() ?? null;
      return s.applied >= s.commit || (before !== null && s.applied >= before);
    });
  }

  /**
   * Resolves once this node's replica of `shard` knows a leader (at once if it does), or after
   * `waitMs`: a request that arrives in the moment between an election and the new leader's first
   * message waits for it rather than fail.
   */
  async awaitLeader(shard: number, waitMs: number): Promise<void> {
    const g = this.groups.get(shard);
    const deadline = Date.now() + waitMs;
    while (g !== undefined && g.raft.status().leader === null && Date.now() < deadline) {
      await this.#roleChange(g, deadline - Date.now());
    }
  }

  /**
   * How long a request waits for a leader it does not know yet: two heartbeat intervals, enough
   * for a new leader's first message to arrive, short enough that "no leader" still fails fast.
   */
  get leaderWaitMs(): number {
    return 2 * this.config.heartbeatTicks * this.config.tickMs;
  }

  /** Resolves at the group's next change of role, leader or term, or after `waitMs`. */
  #roleChange(g: Group, waitMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        unsubscribe();
        resolve();
      };
      const timer = setTimeout(done, waitMs);
      const unsubscribe = g.onRoleChange(done);
    });
  }

  /** Resolves when no group with other members is led by us, or after `waitMs`. */
  #leadershipGone(waitMs: number): Promise<void> {
    const leading = () =>
      [...this.groups.values()].some((g) => g.members.length > 1 && g.raft.status().role === 'leader');
    return new Promise((resolve) => {
      const unsubscribe: (() => void)[] = [];
      const done = () => {
        clearTimeout(timer);
        for (const u of unsubscribe) u();
        resolve();
      };
      const timer = setTimeout(done, waitMs);
      for (const g of this.groups.values()) unsubscribe.push(g.onRoleChange(() => !leading() && done()));
      if (!leading()) done();
    });
  }

  /**
   * First half of SIGTERM: hand leadership of every group we lead to its most up-to-date other
   * member and wait (at most `waitMs`) until it moved. Meanwhile the node keeps serving and
   * forwarding, and refuses to take leadership back (it ignores TimeoutNow).
   */
  async handOver(waitMs: number): Promise<void> {
    this.#handingOver = true;
    for (const g of this.groups.values()) {
      const target = g.bestTransferee();
      if (target !== null && g.raft.transferLeadership(target).ok) {
        this.#handedTo.set(g.id, target);
        g.observer.transferNoted();
      }
    }
    this.#loop.schedule();
    await this.#leadershipGone(waitMs);
  }

  /**
   * Second half: stop ticking and taking messages, let the running turn finish (so what it
   * persisted is on disk), fail every waiting client, close the transport and the store.
   */
  async shutdown(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#ticker !== null) clearInterval(this.#ticker);
    await this.#loop.idle();
    for (const g of this.groups.values()) g.waiters.failAll();
    await this.#transport.close();
    await this.#store.close();
    this.#log.info('node stopped');
  }

  /**
   * The drive loop could not persist a Ready (a write or fsync failed): what this node holds in
   * memory is ahead of its disk. It stops at once: no more ticks or peer messages (so no votes,
   * no elections, and as leader no heartbeats: the other members elect a new leader), every
   * waiting client fails (a write's outcome is unknown: its entries may have reached a quorum
   * through the followers), and `onFatal` decides how the process ends.
   */
  #storageFailed(err: Error, onFatal: (err: Error) => void): void {
    this.#failure = err;
    if (this.#ticker !== null) clearInterval(this.#ticker);
    this.#ticker = null;
    for (const g of this.groups.values()) g.waiters.failAll('this node could not persist it');
    onFatal(err);
  }

  /** handOver() then shutdown(). */
  async stop(opts: { readonly transferMs: number }): Promise<void> {
    await this.handOver(opts.transferMs);
    await this.shutdown();
  }
}
