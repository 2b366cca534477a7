/**
 * The whole cluster at a glance, built from every node's GET /v1/status (or the reason a node did
 * not answer): nodes up or down, each shard's leader, term and rates, every replica's role,
 * indexes and lag behind the leader, and one timeline of leader changes merged from what each node
 * observed. Pure: the dashboard (/v1/ui/state) and `raftkv status` share it.
 */

import type { GroupStatus, LeaderChange, NodeStatus } from '../node/index.js';

/** What asking one node for its status gave. */
export type NodeAnswer =
  | { readonly id: string; readonly api: string; readonly status: NodeStatus }
  | { readonly id: string; readonly api: string; readonly error: string };

export interface NodeView {
  readonly id: string;
  readonly api: string;
  readonly up: boolean;
  /** Why the node is shown down. */
  readonly error: string | null;
  readonly pid: number | null;
  readonly startedAtMs: number | null;
  /** Shards this node leads. */
  readonly leads: readonly number[];
}

export interface ReplicaView {
  readonly node: string;
  readonly up: boolean;
  readonly role: GroupStatus['role'] | 'down';
  /** A learner of the shard: receives the log, never votes. */
  readonly learner: boolean;
  readonly term: number | null;
  readonly leader: string | null;
  readonly commit: number | null;
  readonly applied: number | null;
  readonly lastIndex: number | null;
  readonly snapshotIndex: number | null;
  /** Entries behind the leader's last index (leader's view); null when there is no leader or it does not know. */
  readonly lag: number | null;
  readonly match: number | null;
}

export interface ShardView {
  readonly shard: number;
  /**
   * Voters then learners, as the shard's leader (else the replica with the newest configuration,
   * else the cluster file's placement) has them: the first is the preferred leader.
   */
  readonly members: readonly string[];
  readonly learners: readonly string[];
  readonly leader: string | null;
  readonly term: number | null;
  readonly commit: number | null;
  readonly lastIndex: number | null;
  /** Writes applied per second, as the leader (or else any replica) counts them. */
  readonly writesPerSec: number;
  /** Reads served per second, summed over replicas (stale reads are served by any). */
  readonly readsPerSec: number;
  /** In the cluster file's node order. */
  readonly replicas: readonly ReplicaView[];
}

export type LeaderChangeView = LeaderChange & {
  /** Other nodes that observed the same change. */
  readonly seenBy: readonly string[];
};

export interface ClusterView {
  readonly clusterId: string;
  /** The node that gathered the view, and its clock (ms) when it did. */
  readonly servedBy: string;
  readonly atMs: number;
  readonly nodes: readonly NodeView[];
  readonly shards: readonly ShardView[];
  /** Newest first, at most `leaderChangesShown`. */
  readonly leaderChanges: readonly LeaderChangeView[];
}

export const leaderChangesShown = 50;

export function buildClusterView(o: {
  readonly clusterId: string;
  readonly servedBy: string;
  readonly atMs: number;
  readonly placement: readonly (readonly string[])[];
  readonly answers: readonly NodeAnswer[];
}): ClusterView {
  const statusOf = new Map<string, NodeStatus>();
  for (const a of o.answers) if ('status' in a) statusOf.set(a.id, a.status);
  const groupOf = (node: string, shard: number): GroupStatus | undefined =>
    statusOf.get(node)?.groups.find((g) => g.shard === shard);

  const order = new Map(o.answers.map((a, i) => [a.id, i]));
  const byNodeOrder = (members: readonly string[]) =>
    [...members].sort((a, b) => (order.get(a) ?? 0) - (order.get(b) ?? 0));
  const ids = o.answers.map((a) => a.id);
  const shards = o.placement.map((placed, shard) => shardView(shard, placed, ids, byNodeOrder, groupOf));
  const nodes = o.answers.map((a): NodeView => {
    const leads = shards.filter((s) => s.leader === a.id).map((s) => s.shard);
    return 'status' in a
      ? {
          id: a.id,
          api: a.api,
          up: true,
          error: null,
          pid: a.status.pid,
          startedAtMs: a.status.startedAtMs,
          leads,
        }
      : { id: a.id, api: a.api, up: false, error: a.error, pid: null, startedAtMs: null, leads: [] };
  });
  const changes = [...statusOf.values()].flatMap((s) => s.groups.flatMap((g) => g.leaderChanges));
  return {
    clusterId: o.clusterId,
    servedBy: o.servedBy,
    atMs: o.atMs,
    nodes,
    shards,
    leaderChanges: mergeLeaderChanges(changes).slice(0, leaderChangesShown),
  };
}

function shardView(
  shard: number,
  placed: readonly string[],
  ids: readonly string[],
  byNodeOrder: (members: readonly string[]) => string[],
  groupOf: (node: string, shard: number) => GroupStatus | undefined,
): ShardView {
  const hosted = ids.flatMap((id) => groupOf(id, shard) ?? []);
  let leaderGroup: GroupStatus | null = null;
  for (const g of hosted) {
    if (g.role === 'leader' && (leaderGroup === null || g.term > leaderGroup.term)) leaderGroup = g;
  }
  const newest = hosted.reduce<GroupStatus | null>(
    (a, b) => (a === null || b.confIndex > a.confIndex ? b : a),
    null,
  );
  const conf = (leaderGroup ?? newest)?.conf ?? { voters: placed, learners: [] };
  const members = [...conf.voters, ...conf.learners];
  const groups = members.flatMap((m) => groupOf(m, shard) ?? []);
  const replicas = byNodeOrder(members).map((node): ReplicaView => {
    const g = groupOf(node, shard);
    if (g === undefined) {
      return {
        node,
        up: false,
        role: 'down',
        learner: conf.learners.includes(node),
        term: null,
        leader: null,
        commit: null,
        applied: null,
        lastIndex: null,
        snapshotIndex: null,
        lag: null,
        match: null,
      };
    }
    const f = leaderGroup?.followers.find((x) => x.id === node);
    const isLeader = leaderGroup !== null && g.id === leaderGroup.id;
    return {
      node,
      up: true,
      role: g.role,
      learner: conf.learners.includes(node),
      term: g.term,
      leader: g.leader,
      commit: g.commit,
      applied: g.applied,
      lastIndex: g.lastIndex,
      snapshotIndex: g.snapshotIndex,
      lag: isLeader ? 0 : (f?.lag ?? null),
      match: isLeader ? g.lastIndex : (f?.match ?? null),
    };
  });
  const counting = leaderGroup ?? groups[0];
  return {
    shard,
    members,
    learners: conf.learners,
    leader: leaderGroup?.id ?? null,
    term: leaderGroup?.term ?? maxOf(groups.map((g) => g.term)),
    commit: leaderGroup?.commit ?? maxOf(groups.map((g) => g.commit)),
    lastIndex: leaderGroup?.lastIndex ?? maxOf(groups.map((g) => g.lastIndex)),
    writesPerSec: counting?.writesPerSec ?? 0,
    readsPerSec: groups.reduce((sum, g) => sum + g.readsPerSec, 0),
    replicas,
  };
}

function maxOf(xs: readonly number[]): number | null {
  return xs.length === 0 ? null : Math.max(...xs);
}

/**
 * One entry per change (shard, term, new leader) from the views of every node that saw it: the
 * most informative view wins (a failover over a node's first sight of a leader, a measured window
 * over an open one, the new leader's own view over a follower's); any view that knew it was a
 * transfer makes it one. Newest first.
 */
export function mergeLeaderChanges(changes: readonly LeaderChange[]): LeaderChangeView[] {
  const byKey = new Map<string, LeaderChange[]>();
  for (const c of changes) {
    const key = `${c.shard}/${c.term}/${c.to}`;
    const list = byKey.get(key);
    if (list === undefined) byKey.set(key, [c]);
    else list.push(c);
  }
  const score = (c: LeaderChange) =>
    (c.kind !== 'initial' ? 8 : 0) +
    (c.window === 'measured' ? 4 : c.window === 'open' ? 2 : 0) +
    (c.observer === c.to ? 1 : 0);
  const merged: LeaderChangeView[] = [];
  for (const views of byKey.values()) {
    const best = views.reduce((a, b) => (score(b) > score(a) ? b : a));
    const transfer = views.some((v) => v.kind === 'transfer');
    const seen = (d: LeaderChange['detection']) => views.some((v) => v.detection === d);
    merged.push({
      ...best,
      kind: transfer ? 'transfer' : best.kind,
      // The earliest sign any observer had: a hand-over, a lost connection, else the timeout.
      detection: seen('handover')
        ? 'handover'
        : seen('connection lost')
          ? 'connection lost'
          : (best.detection ?? null),
      seenBy: views.map((v) => v.observer).filter((id) => id !== best.observer),
    });
  }
  return merged.sort((a, b) => b.electedAtMs - a.electedAtMs || b.term - a.term);
}
