/**
 * The cluster's membership as replicated state (README's API "Changing the cluster"): the node
 * table (id, addresses, state), where each shard's replicas are and which member should lead it,
 * and an `epoch` that rises with every change. It is the state machine of the membership group,
 * a Raft group every node hosts a replica of (a few as voters, the rest as learners), so every
 * node reads it locally. Pure and deterministic: commands in, results out, no I/O, no clock.
 */

import type { ConfState, NodeId } from '../raft/types.js';

/** `joining`: added, receives no data replica yet; `active`: carries replicas; `leaving`: being drained. */
export type NodeState = 'joining' | 'active' | 'leaving';

export interface NodeRecord {
  readonly id: NodeId;
  readonly api: string;
  readonly peer: string;
  readonly state: NodeState;
  /**
   * The joining data directory's random incarnation: a node that lost its disk cannot join again
   * under the same id as though it were the member it was. Empty for the cluster file's nodes.
   */
  readonly incarnation?: string;
}

/** Where a shard's replicas are (as last changed through the cluster) and its preferred leader. */
export interface ShardPlacement extends ConfState {
  readonly leader: NodeId | null;
}

export interface MembershipState {
  /** 0 until the cluster's first configuration is written; then +1 with every change. */
  readonly epoch: number;
  readonly nodes: readonly NodeRecord[];
  /** Index = shard. */
  readonly shards: readonly ShardPlacement[];
}

export type MembershipCommand =
  /** The cluster file's nodes and placement, written once by the first leader of the group. */
  | {
      readonly op: 'bootstrap';
      readonly nodes: readonly NodeRecord[];
      readonly shards: readonly ShardPlacement[];
    }
  | { readonly op: 'addNode'; readonly node: Omit<NodeRecord, 'state'> }
  | { readonly op: 'setState'; readonly id: NodeId; readonly state: NodeState }
  | { readonly op: 'removeNode'; readonly id: NodeId }
  | { readonly op: 'place'; readonly shard: number; readonly placement: ShardPlacement };

export type MembershipResult =
  | { readonly ok: true; readonly epoch: number }
  | { readonly ok: false; readonly reason: string };

export const emptyMembership: MembershipState = { epoch: 0, nodes: [], shards: [] };

/**
 * The state after `cmd`, and its result. A command that changes nothing (a repeated join with
 * the same addresses, a state already set) succeeds without raising the epoch; one that cannot
 * apply changes nothing and says why.
 */
export function applyMembership(
  s: MembershipState,
  cmd: MembershipCommand,
): { readonly state: MembershipState; readonly result: MembershipResult } {
  const refuse = (reason: string) => ({ state: s, result: { ok: false, reason } as const });
  const same = () => ({ state: s, result: { ok: true, epoch: s.epoch } as const });
  const next = (change: Partial<MembershipState>) => {
    const state = { ...s, ...change, epoch: s.epoch + 1 };
    return { state, result: { ok: true, epoch: state.epoch } as const };
  };
  if (cmd.op === 'bootstrap') {
    if (s.epoch !== 0) return same();
    return next({ nodes: cmd.nodes.map((n) => ({ ...n })), shards: cmd.shards.map(copyPlacement) });
  }
  if (s.epoch === 0) return refuse('the cluster has not written its first membership yet');
  switch (cmd.op) {
    case 'addNode': {
      const { id, api, peer } = cmd.node;
      const incarnation = cmd.node.incarnation ?? '';
      const old = s.nodes.find((n) => n.id === id);
      if (old !== undefined) {
        if (old.api === api && old.peer === peer && (old.incarnation ?? '') === incarnation) return same();
        return refuse(
          `node id ${id} is taken by a member (api ${old.api}); if that node is gone for good, remove it with node remove ${id} --force first`,
        );
      }
      const clash = s.nodes.find((n) => n.api === api || n.peer === peer);
      if (clash !== undefined)
        return refuse(`node ${clash.id} already uses ${clash.api === api ? api : peer}`);
      return next({ nodes: [...s.nodes, { id, api, peer, state: 'joining', incarnation }] });
    }
    case 'setState': {
      const old = s.nodes.find((n) => n.id === cmd.id);
      if (old === undefined) return refuse(`node ${cmd.id} is not a member`);
      if (old.state === cmd.state) return same();
      return next({ nodes: s.nodes.map((n) => (n.id === cmd.id ? { ...n, state: cmd.state } : n)) });
    }
    case 'removeNode': {
      if (!s.nodes.some((n) => n.id === cmd.id)) return refuse(`node ${cmd.id} is not a member`);
      return next({ nodes: s.nodes.filter((n) => n.id !== cmd.id) });
    }
    case 'place': {
      if (!Number.isInteger(cmd.shard) || cmd.shard < 0 || cmd.shard >= s.shards.length)
        return refuse(`shard ${cmd.shard} does not exist`);
      if (samePlacement(s.shards[cmd.shard]!, cmd.placement)) return same();
      const shards = s.shards.slice();
      shards[cmd.shard] = copyPlacement(cmd.placement);
      return next({ shards });
    }
  }
}

function copyPlacement(p: ShardPlacement): ShardPlacement {
  return { voters: [...p.voters], learners: [...p.learners], leader: p.leader };
}

function samePlacement(a: ShardPlacement, b: ShardPlacement): boolean {
  const eq = (x: readonly string[], y: readonly string[]) =>
    x.length === y.length && x.every((v, i) => v === y[i]);
  return a.leader === b.leader && eq(a.voters, b.voters) && eq(a.learners, b.learners);
}
