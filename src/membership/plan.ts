/**
 * The rebalancer's plan: from the node table, each shard's members as they are, and which nodes
 * answer, the next steps towards the goal state — every shard with `replicas` voters on active
 * nodes, every active node within ±1 of the mean number of replicas and of preferred leaderships,
 * the membership group on every node (up to five voters, the rest learners), drained nodes gone.
 * A replica moves by add (learner, catch up, promote) then remove, so a shard never has fewer
 * voters than it had, except when the member removed is down for good. Pure: no I/O, no clock.
 */

import { isMember } from '../raft/conf.js';
import type { ConfState, NodeId } from '../raft/types.js';
import type { NodeRecord, ShardPlacement } from './table.js';

/** The membership group's id among a node's groups (shards are 0 .. shards-1). */
export const membershipGroup = 2 ** 32 - 1;

/** How a group is named to people, in logs and in routes: its shard number, or "membership". */
export function groupLabel(group: number): number | 'membership' {
  return group === membershipGroup ? 'membership' : group;
}

/** A group's path segment in the admin routes: its shard number, or `membership`. */
export function groupPath(group: number): string {
  return String(groupLabel(group));
}

/** A group as messages name it: "shard 3", or "the membership group". */
export function groupName(group: number): string {
  return group === membershipGroup ? 'the membership group' : `shard ${group}`;
}

/** The most voters the membership group has; the other nodes hold a learner of it. */
export const membershipVotersMax = 5;

export interface NodeHealth extends NodeRecord {
  /** Answered recently. */
  readonly up: boolean;
  /** Down so long that its replicas are re-created elsewhere (`downReplaceMs`). */
  readonly lost: boolean;
}

export interface PlanInput {
  readonly nodes: readonly NodeHealth[];
  /** Each shard's configuration as its leader has it (index = shard); null: not known now. */
  readonly shards: readonly (ConfState | null)[];
  /** The membership group's configuration. */
  readonly membership: ConfState;
  /** Preferred leaders so far (index = shard), kept where they still fit. */
  readonly leaders: readonly (NodeId | null)[];
  readonly replicas: number;
  /** Groups with a step under way: nothing more is planned for them now. */
  readonly busy: ReadonlySet<number>;
  /** The most steps under way at once. */
  readonly stepsMax: number;
  /** False: shards' replicas are left where they are (the cluster file's `rebalance`); nodes still join and leave the table. */
  readonly moveReplicas?: boolean;
}

/**
 * One change of one group, carried out by the group's leader:
 * `add` (as a voter: learner, catch up, promote; then `remove` leaves when given),
 * `addLearner`, `remove`; `activate` a joined node once it follows the membership group;
 * `forget` a drained node: out of the membership group and the node table.
 */
export type Step =
  | { readonly kind: 'add'; readonly group: number; readonly node: NodeId; readonly remove: NodeId | null }
  | { readonly kind: 'addLearner'; readonly group: number; readonly node: NodeId }
  | { readonly kind: 'remove'; readonly group: number; readonly node: NodeId }
  | { readonly kind: 'activate'; readonly node: NodeId }
  | { readonly kind: 'forget'; readonly node: NodeId };

/** The member a step takes out of its group, if any. */
export function removedBy(step: Step): NodeId | null {
  if (step.kind === 'add') return step.remove;
  return step.kind === 'remove' ? step.node : null;
}

/** The group a step is about (`activate` and `forget` are about the membership group). */
export function groupOf(step: Step): number {
  return step.kind === 'activate' || step.kind === 'forget' ? membershipGroup : step.group;
}

/** How many voters the membership group wants with `active` usable nodes: odd, at most five. */
export function membershipVotersWanted(active: number): number {
  const n = Math.min(membershipVotersMax, Math.max(1, active));
  return n % 2 === 0 ? n - 1 : n;
}

export function planSteps(p: PlanInput): Step[] {
  const steps: Step[] = [];
  const busy = new Set(p.busy);
  const room = () => steps.length + p.busy.size < p.stepsMax;
  const push = (s: Step) => {
    if (!room() || busy.has(groupOf(s))) return;
    steps.push(s);
    busy.add(groupOf(s));
  };
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  /** May take a new replica. */
  const usable = (id: NodeId) => {
    const n = byId.get(id);
    return n !== undefined && n.state === 'active' && n.up;
  };
  /** Its replicas must go elsewhere: not in the table, leaving, or lost. */
  const gone = (id: NodeId) => {
    const n = byId.get(id);
    return n === undefined || n.state === 'leaving' || n.lost;
  };

  planMembershipGroup(p, byId, usable, gone, push);
  if (p.moveReplicas === false) return steps;

  // Replicas per usable node, counting learners (they hold the data too).
  const load = new Map<NodeId, number>();
  for (const n of p.nodes) if (usable(n.id)) load.set(n.id, 0);
  for (const c of p.shards) {
    for (const id of [...(c?.voters ?? []), ...(c?.learners ?? [])]) {
      if (load.has(id)) load.set(id, load.get(id)! + 1);
    }
  }
  const target = (c: ConfState): NodeId | null => {
    let best: NodeId | null = null;
    for (const [id, n] of load) {
      if (isMember(c, id)) continue;
      if (best === null || n < load.get(best)!) best = id;
    }
    return best;
  };
  const take = (id: NodeId, delta: number) => {
    if (load.has(id)) load.set(id, load.get(id)! + delta);
  };

  // Repairs first: replicas on nodes that are going, stray learners, too few or too many voters.
  p.shards.forEach((c, shard) => {
    if (c === null || busy.has(shard)) return;
    const learner = c.learners[0];
    if (learner !== undefined) {
      // A move cut short: finish it where it fits, else undo it.
      if (usable(learner) && c.voters.filter((id) => !gone(id)).length < p.replicas)
        push({ kind: 'add', group: shard, node: learner, remove: null });
      else push({ kind: 'remove', group: shard, node: learner });
      return;
    }
    const leaving = c.voters.find(gone);
    if (leaving !== undefined) {
      const quorumAfter = Math.floor((c.voters.length - 1) / 2) + 1;
      const upAfter = c.voters.filter((id) => id !== leaving && byId.get(id)?.up === true).length;
      if (c.voters.filter((id) => !gone(id)).length >= p.replicas) {
        // Enough voters stay (a move whose addition was done and whose removal was not): only
        // the removal is left to do, once the others can carry the shard without it.
        if (upAfter >= quorumAfter) push({ kind: 'remove', group: shard, node: leaving });
        return;
      }
      const to = target(c);
      if (to !== null) {
        take(to, 1);
        push({ kind: 'add', group: shard, node: to, remove: leaving });
      } else if (byId.get(leaving) === undefined && c.voters.length > 1 && upAfter >= quorumAfter) {
        // Forced out and nowhere to go: the shard shrinks rather than keep a dead member.
        push({ kind: 'remove', group: shard, node: leaving });
      }
      return;
    }
    if (c.voters.length < p.replicas) {
      const to = target(c);
      if (to !== null) {
        take(to, 1);
        push({ kind: 'add', group: shard, node: to, remove: null });
      }
      return;
    }
    if (c.voters.length > p.replicas) {
      // A surplus (a lost node came back after its replicas were re-created): the down or most loaded goes.
      const down = c.voters.find((id) => byId.get(id)?.up !== true);
      const victim = down ?? [...c.voters].sort((a, b) => (load.get(b) ?? 0) - (load.get(a) ?? 0))[0]!;
      take(victim, -1);
      push({ kind: 'remove', group: shard, node: victim });
    }
  });

  // Then balance: one replica from the most to the least loaded node, while they differ by more than one.
  for (;;) {
    if (!room() || load.size < 2) break;
    const sorted = [...load].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
    const [most, mostN] = sorted[0]!;
    const [least, leastN] = sorted[sorted.length - 1]!;
    if (mostN - leastN <= 1) break;
    const shard = p.shards.findIndex(
      (c, s) =>
        c !== null &&
        !busy.has(s) &&
        c.learners.length === 0 &&
        c.voters.includes(most) &&
        !c.voters.includes(least) &&
        c.voters.every((id) => byId.get(id)?.up === true),
    );
    if (shard < 0) break;
    take(least, 1);
    take(most, -1);
    push({ kind: 'add', group: shard, node: least, remove: most });
  }
  return steps;
}

function planMembershipGroup(
  p: PlanInput,
  byId: ReadonlyMap<NodeId, NodeHealth>,
  usable: (id: NodeId) => boolean,
  gone: (id: NodeId) => boolean,
  push: (s: Step) => void,
): void {
  const m = p.membership;
  // Every node of the table follows the membership group; a joined node is active once it does.
  for (const n of p.nodes) {
    if (!isMember(m, n.id) && n.state !== 'leaving' && n.up)
      push({ kind: 'addLearner', group: membershipGroup, node: n.id });
    else if (n.state === 'joining' && n.up) push({ kind: 'activate', node: n.id });
  }
  const wanted = membershipVotersWanted([...byId.values()].filter((n) => usable(n.id)).length);
  const staying = m.voters.filter((id) => !gone(id));
  const candidate = m.learners.find(usable);
  if (staying.length < wanted && candidate !== undefined) {
    push({ kind: 'add', group: membershipGroup, node: candidate, remove: null });
    return;
  }
  // A leaving node keeps its vote (and its copy of the table) until its shards' replicas are gone.
  const holdsShards = (id: NodeId) => p.shards.some((c) => c === null || isMember(c, id));
  const leavingVoter = m.voters.find(
    (id) => gone(id) && !(byId.get(id)?.state === 'leaving' && holdsShards(id)),
  );
  const quorumAfter = Math.floor((m.voters.length - 1) / 2) + 1;
  const upAfter = m.voters.filter((id) => id !== leavingVoter && byId.get(id)?.up === true).length;
  if (leavingVoter !== undefined && m.voters.length > 1 && upAfter >= quorumAfter) {
    push({ kind: 'remove', group: membershipGroup, node: leavingVoter });
    return;
  }
  for (const id of m.learners) {
    const n = byId.get(id);
    if (n === undefined) push({ kind: 'remove', group: membershipGroup, node: id });
  }
  // A drained node (leaving, no replica left, no vote in the membership group) is forgotten.
  for (const n of p.nodes) {
    if (n.state !== 'leaving' || m.voters.includes(n.id)) continue;
    if (!holdsShards(n.id)) push({ kind: 'forget', node: n.id });
  }
}

/**
 * Preferred leaders: per shard one of its voters on a usable node, each usable node preferred
 * for within one of the mean number of shards; the first voter, else the preference so far, is
 * kept where it fits, so leadership moves only where balance needs it.
 */
export function planLeaders(
  p: Pick<PlanInput, 'nodes' | 'shards' | 'leaders'> & {
    /** Per shard, a member on its way out (a step removes it): never preferred. */
    readonly leaving?: ReadonlyMap<number, NodeId>;
  },
): (NodeId | null)[] {
  const usable = new Set(p.nodes.filter((n) => n.state === 'active' && n.up).map((n) => n.id));
  const fits = (s: number, id: NodeId) => usable.has(id) && p.leaving?.get(s) !== id;
  const known = p.shards.filter((c) => c !== null).length;
  const capacity = usable.size === 0 ? 0 : Math.ceil(known / usable.size);
  const count = new Map([...usable].map((id) => [id, 0]));
  const out: (NodeId | null)[] = p.shards.map(() => null);
  // The shard's first voter where it fits (so leadership returns to it after it was down, and
  // the cluster file's spread of leaders holds while no replica moves), then the preference so
  // far; then the rest on the least preferred candidate.
  const keep = (s: number, id: NodeId | null) => {
    const c = p.shards[s];
    if (c == null || id === null || out[s] !== null || !fits(s, id) || !c.voters.includes(id)) return;
    if (count.get(id)! >= capacity) return;
    out[s] = id;
    count.set(id, count.get(id)! + 1);
  };
  for (const [s, c] of p.shards.entries()) keep(s, c?.voters[0] ?? null);
  for (const s of p.shards.keys()) keep(s, p.leaders[s] ?? null);
  p.shards.forEach((c, s) => {
    if (c === null || out[s] !== null) {
      if (c === null) out[s] = p.leaders[s] ?? null;
      return;
    }
    let best: NodeId | null = null;
    for (const id of c.voters) {
      if (!fits(s, id)) continue;
      if (best === null || count.get(id)! < count.get(best)!) best = id;
    }
    out[s] = best;
    if (best !== null) count.set(best, count.get(best)! + 1);
  });
  // Then lift the least preferred node towards the mean, taking shards from nodes above it.
  const floor = usable.size === 0 ? 0 : Math.floor(known / usable.size);
  for (let moved = 0; moved < p.shards.length; moved++) {
    const [low, lowN] = [...count].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1))[0] ?? [null, 0];
    if (low === null || lowN >= floor) break;
    const s = p.shards.findIndex(
      (c, i) =>
        c?.voters.includes(low) &&
        fits(i, low) &&
        count.get(out[i] ?? '') !== undefined &&
        count.get(out[i]!)! > lowN + 1,
    );
    if (s < 0) break;
    count.set(out[s]!, count.get(out[s]!)! - 1);
    count.set(low, lowN + 1);
    out[s] = low;
  }
  return out;
}

/** The placement a shard's step left, for the node table: configuration plus preferred leader. */
export function placementOf(conf: ConfState, leader: NodeId | null): ShardPlacement {
  return {
    voters: [...conf.voters],
    learners: [...conf.learners],
    leader: leader !== null && conf.voters.includes(leader) ? leader : null,
  };
}
