/**
 * The rebalancer (README "Growing and shrinking the cluster"): runs on every node, acts only on
 * the leader of the membership group, so exactly one runs per cluster and it survives failover.
 * Once a round (`rebalanceEveryMs`) it asks every node of the table for its status (who is up,
 * each shard's configuration as its leader has it), writes what changed into the table (placement,
 * preferred leaders: the epoch rises, clients and nodes follow), and starts the steps membership/
 * plan.ts says are next, at most `rebalanceMovesMax` at once, one per group. Each step goes
 * through the API's own membership routes (forwarded to the group's leader), signed with the
 * cluster secret; so a move is exactly what an operator's add-then-remove would be.
 */

import type { Logger } from 'pino';
import {
  type ConfState,
  groupLabel,
  groupOf,
  groupPath,
  type MembershipCommand,
  membershipGroup,
  type NodeHealth,
  type NodeId,
  type NodeStatus,
  placementOf,
  planLeaders,
  planSteps,
  type RaftKVNode,
  removedBy,
  type Step,
} from '../node/index.js';
import type { ClusterAuth } from './cluster-auth.js';
import { Forwarder, type OutboundTls } from './forward.js';

/** How often the rebalancer looks at the cluster. */
export const rebalanceEveryMs = 1_000;
/** How long a node has to answer for its status before it counts as down this round. */
export const statusTimeoutMs = 1_000;
/** The most recent rebalancer events kept for /v1/cluster and the dashboard. */
export const eventsKept = 200;

/** Something the rebalancer did, for the dashboard's timeline and `node list`. */
export interface RebalanceEvent {
  readonly atMs: number;
  /** `join`, `activate`, `move` (add then remove), `add`, `remove`, `forget`, `down`, `up`. */
  readonly kind: string;
  /** The shard, `membership`, or null for a node event. */
  readonly group: number | 'membership' | null;
  readonly node: NodeId;
  /** For a move: the node the replica left. */
  readonly from: NodeId | null;
  readonly outcome: 'started' | 'done' | 'failed';
  readonly detail: string;
}

export interface RebalancerDeps {
  readonly node: RaftKVNode;
  readonly auth: ClusterAuth;
  readonly log: Logger;
  readonly outboundTls?: OutboundTls | undefined;
  readonly everyMs?: number;
}

/** The admin route of a group's members, or of one member when `node` is given. */
function membersPath(group: number, node?: NodeId): string {
  return `/v1/admin/shards/${groupPath(group)}/members${node === undefined ? '' : `/${node}`}`;
}

export class Rebalancer {
  readonly #d: RebalancerDeps;
  readonly #http: Forwarder;
  readonly #busy = new Set<number>();
  readonly #downSince = new Map<NodeId, number>();
  readonly #events: RebalanceEvent[] = [];
  #timer: NodeJS.Timeout | null = null;
  #running = false;
  #stopped = false;
  #settled: boolean | null = null;
  /** The table's epoch when #settled was last found true. */
  #settledEpoch = 0;
  /** Up or down as of the last round (only meaningful on the membership leader). */
  #up = new Map<NodeId, boolean>();

  constructor(d: RebalancerDeps) {
    this.#d = d;
    const { requestTimeoutMs } = d.node.config;
    // A move waits for an addition, a catch-up and a promotion: several request timeouts.
    this.#http = new Forwarder(4 * requestTimeoutMs, () => {}, d.outboundTls);
  }

  start(): void {
    this.#timer = setInterval(() => void this.round(), this.#d.everyMs ?? rebalanceEveryMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    await this.#http.close();
  }

  /** Recent events, newest last. */
  events(): readonly RebalanceEvent[] {
    return this.#events;
  }

  /** Whether `id` answered the last round's status request; null when this node does not know. */
  isUp(id: NodeId): boolean | null {
    return this.#up.get(id) ?? null;
  }

  /** Groups with a step under way. */
  busy(): ReadonlySet<number> {
    return this.#busy;
  }

  /**
   * Whether the last round (they run every second) found nothing to do: every node up and active,
   * each shard led by its preferred leader, no move planned or under way — and the table is still
   * at the epoch it looked at (a join or removal since then is not settled yet). Null on a node
   * that does not lead the membership group (it does not plan).
   */
  settled(): boolean | null {
    if (this.#settled !== true) return this.#settled;
    return this.#d.node.membership().epoch === this.#settledEpoch;
  }

  #note(e: Omit<RebalanceEvent, 'atMs'>): void {
    this.#events.push({ atMs: Date.now(), ...e });
    if (this.#events.length > eventsKept) this.#events.splice(0, this.#events.length - eventsKept);
    const msg = `rebalance: ${e.kind} ${e.group === null ? '' : `group ${e.group} `}${e.node}${e.from === null ? '' : ` (from ${e.from})`} ${e.outcome}`;
    if (e.outcome === 'failed') this.#d.log.warn({ detail: e.detail }, msg);
    else this.#d.log.info({ detail: e.detail }, msg);
  }

  /**
   * One look at the cluster: every node drops replicas the groups removed while it was away;
   * the membership leader also plans and starts steps.
   */
  async round(): Promise<void> {
    const { node } = this.#d;
    if (this.#running || this.#stopped) return;
    this.#running = true;
    try {
      await this.#dropStrays(node);
      // Only the membership leader's last look says anything; a round that ends early says no.
      if (node.leadsMembership()) await this.#round(node);
      else this.#settled = null;
    } catch (err) {
      this.#settled = false;
      this.#d.log.warn({ err }, 'rebalance round failed');
    } finally {
      this.#running = false;
    }
  }

  async #round(node: RaftKVNode): Promise<void> {
    const table = node.membership();
    const membership = node.membershipConf();
    if (table.epoch === 0 || membership === null) {
      this.#settled = false;
      return;
    }
    const statuses = await Promise.all(
      table.nodes.map(
        async (n) => [n.id, n.id === node.id ? node.status() : await this.#status(n.api)] as const,
      ),
    );
    const now = Date.now();
    const up = new Map<NodeId, boolean>();
    for (const [id, status] of statuses) {
      up.set(id, status !== null);
      if (status !== null) {
        if (this.#downSince.delete(id))
          this.#note({ kind: 'up', group: null, node: id, from: null, outcome: 'done', detail: '' });
      } else if (!this.#downSince.has(id)) {
        this.#downSince.set(id, now);
        this.#note({
          kind: 'down',
          group: null,
          node: id,
          from: null,
          outcome: 'done',
          detail: 'no answer to /v1/status',
        });
      }
    }
    this.#up = up;
    const health: NodeHealth[] = table.nodes.map((n) => ({
      ...n,
      up: up.get(n.id) === true,
      lost:
        up.get(n.id) !== true && now - (this.#downSince.get(n.id) ?? now) >= node.config.nodeDownReplaceMs,
    }));
    const leadersNow = shardLeaders(
      node.config.shards,
      statuses.map(([, s]) => s),
    );
    const shards = leadersNow.map((l) => l?.conf ?? null);
    if (!node.leadsMembership()) {
      this.#settled = null;
      return;
    }

    const previous = table.shards.map((p) => p.leader);
    const steps = planSteps({
      nodes: health,
      shards,
      membership,
      leaders: previous,
      replicas: node.config.replicas,
      busy: this.#busy,
      stepsMax: node.config.rebalanceMovesMax,
      moveReplicas: node.config.rebalance,
    });
    for (const step of steps) {
      const out = removedBy(step);
      if (out !== null) this.#leaving.set(groupOf(step), out);
    }

    // The table follows what the groups say: placement, and preferred leaders that are not on
    // their way out of their shard (the shard's leader hands over to them).
    const leaders = planLeaders({ nodes: health, shards, leaders: previous, leaving: this.#leaving });
    let placed = 0;
    for (const [shard, conf] of shards.entries()) {
      if (conf === null) continue;
      const placement = placementOf(conf, leaders[shard] ?? null);
      const old = table.shards[shard];
      if (old !== undefined && JSON.stringify(old) === JSON.stringify(placement)) continue;
      await this.#propose({ op: 'place', shard, placement });
      placed++;
    }
    // Nothing to do and nothing under way: every node up and active, every shard's leader known
    // and its preferred one, the table unchanged, no step planned or running.
    this.#settledEpoch = table.epoch;
    this.#settled =
      health.every((n) => n.up && n.state === 'active') &&
      leadersNow.every((l, shard) => l !== null && l.id === leaders[shard]) &&
      placed === 0 &&
      steps.length === 0 &&
      this.#busy.size === 0;

    for (const step of steps) {
      const group = groupOf(step);
      this.#busy.add(group);
      void this.#run(step).finally(() => {
        this.#busy.delete(group);
        this.#leaving.delete(group);
      });
    }
  }

  /** Per group with a step under way that removes a member: that member. */
  readonly #leaving = new Map<number, NodeId>();

  /**
   * Replicas the table no longer places here: asks a member of the group (it forwards to the
   * leader) for the committed configuration, and drops the replica when that has removed this node.
   */
  async #dropStrays(node: RaftKVNode): Promise<void> {
    const table = node.membership();
    for (const shard of node.strayReplicas()) {
      const placed = table.shards[shard];
      const ask = [placed?.leader, ...(placed?.voters ?? [])].find((id) => id != null && id !== node.id);
      const api = ask === undefined || ask === null ? null : node.apiOf(ask);
      if (api === null) continue;
      const c = await this.#get<{
        voters: string[];
        learners: string[];
        confIndex: number;
        committed: boolean;
      }>(api, membersPath(shard));
      if (c === null || !c.committed) continue;
      try {
        if (await node.dropRemovedReplica(shard, { voters: c.voters, learners: c.learners }, c.confIndex))
          this.#note({
            kind: 'remove',
            group: shard,
            node: node.id,
            from: null,
            outcome: 'done',
            detail: 'stray replica dropped',
          });
      } catch (err) {
        this.#d.log.debug({ err, shard }, 'could not check a stray replica');
      }
    }
  }

  #status(api: string): Promise<NodeStatus | null> {
    return this.#get<NodeStatus>(api, '/v1/status');
  }

  /** A GET of `path` on another node's API, signed with the cluster secret: its JSON body, or null on any failure. */
  async #get<T>(api: string, path: string): Promise<T | null> {
    try {
      const res = await this.#http.forward(api, {
        method: 'GET',
        url: path,
        headers: this.#d.auth.headers('GET', path),
        body: null,
        hops: 0,
      });
      return res.status === 200 ? (JSON.parse(res.body.toString('utf8')) as T) : null;
    } catch {
      return null;
    }
  }

  async #propose(cmd: MembershipCommand): Promise<void> {
    const res = await this.#d.node.proposeMembership(cmd);
    if (!res.ok) this.#d.log.warn({ cmd, reason: res.reason }, 'membership change refused');
  }

  /** Carries out one step; failures are logged and the next round plans again. */
  async #run(step: Step): Promise<void> {
    const group = groupOf(step);
    const groupName = groupLabel(group);
    const event = (outcome: RebalanceEvent['outcome'], detail: string) =>
      this.#note({
        kind: step.kind === 'add' && step.remove !== null ? 'move' : step.kind,
        group: groupName,
        node: step.node,
        from: step.kind === 'add' ? step.remove : null,
        outcome,
        detail,
      });
    event('started', '');
    try {
      switch (step.kind) {
        case 'add':
          await this.#call(step.group, 'POST', membersPath(step.group), {
            node: step.node,
            role: 'voter',
          });
          if (step.remove !== null)
            await this.#call(step.group, 'DELETE', membersPath(step.group, step.remove));
          break;
        case 'addLearner':
          await this.#call(step.group, 'POST', membersPath(step.group), {
            node: step.node,
            role: 'learner',
          });
          break;
        case 'remove':
          await this.#call(step.group, 'DELETE', membersPath(step.group, step.node));
          break;
        case 'activate':
          await this.#propose({ op: 'setState', id: step.node, state: 'active' });
          break;
        case 'forget':
          if (this.#d.node.membershipConf()?.learners.includes(step.node))
            await this.#call(membershipGroup, 'DELETE', membersPath(membershipGroup, step.node));
          await this.#propose({ op: 'removeNode', id: step.node });
          break;
      }
      event('done', '');
    } catch (err) {
      event('failed', (err as Error).message);
    }
  }

  /**
   * A membership route of `group`, sent to its leader as this node knows it (else to this
   * node's own API); a node that does not lead it forwards it once more.
   */
  async #call(group: number, method: 'POST' | 'DELETE', path: string, body?: unknown): Promise<void> {
    const route = this.#d.node.route(group);
    const api = route.kind === 'remote' ? route.api : this.#d.node.apiOf(this.#d.node.id);
    if (api === null) throw new Error('this node is not in the node table');
    const res = await this.#http.forward(api, {
      method,
      url: path,
      headers: {
        ...this.#d.auth.headers(method, path),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? null : Buffer.from(JSON.stringify(body)),
      hops: 0,
    });
    if (res.status !== 200)
      throw new Error(`${method} ${path}: ${res.status} ${res.body.toString('utf8').slice(0, 300)}`);
  }
}

/**
 * Each shard's leader (the node that claims it with the highest term) and the configuration it
 * reports; null where no node answered as the shard's leader.
 */
export function shardLeaders(
  shards: number,
  statuses: readonly (NodeStatus | null)[],
): ({ readonly id: NodeId; readonly conf: ConfState } | null)[] {
  const out: ({ id: NodeId; conf: ConfState } | null)[] = [];
  for (let shard = 0; shard < shards; shard++) {
    let best: { term: number; id: NodeId; conf: ConfState } | null = null;
    for (const s of statuses) {
      const g = s?.groups.find((x) => x.shard === shard && x.role === 'leader');
      if (g !== undefined && s !== null && (best === null || g.term > best.term))
        best = { term: g.term, id: s.id, conf: g.conf };
    }
    out.push(best === null ? null : { id: best.id, conf: best.conf });
  }
  return out;
}
