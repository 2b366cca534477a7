/**
 * What a node says about itself: GET /v1/status (every local group's role, term, leader, indexes,
 * followers' progress and what the observer saw) and /readyz (whether the first request will work).
 */

import type { FollowerStatus, NodeId, RaftStatus } from '../raft/types.js';
import { CommitTrail } from './commit-trail.js';
import type { Group } from './group.js';
import type { GroupActivity } from './observer.js';

/**
 * A ready replica has applied everything committed this long ago: under a steady stream of writes
 * the commit index is always a turn ahead of the applied index, which is not being behind.
 */
export const readyApplyLagMs = 1_000;

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

/** Role, term, leader, indexes; on a leader each follower's match index and lag (lastIndex - match). */
export function groupStatus(g: Group): GroupStatus {
  const s = g.raft.status();
  const followers = g.raft.followers().map((f) => ({ ...f, lag: Math.max(0, s.lastIndex - f.match) }));
  return { shard: g.id, members: g.members, ...s, followers, ...g.observer.activity() };
}

/**
 * Readiness (/readyz): every local group knows a leader, is not in the middle of handing
 * leadership over, and has applied its commit index — all of it, or at least the commit index
 * it had `readyApplyLagMs` ago (writes that commit while a turn applies the ones before them do
 * not make a replica unready; one that falls behind does).
 */
export class Readiness {
  /** Per group, its commit index over the last readyApplyLagMs, sampled once per tick. */
  readonly #trails = new Map<number, CommitTrail>();

  readonly #tickMs: number;

  constructor(groups: Iterable<Group>, tickMs: number) {
    this.#tickMs = tickMs;
    for (const g of groups) this.add(g);
  }

  /** Starts watching a replica created after the node started. */
  add(g: Group): void {
    this.#trails.set(g.id, new CommitTrail(Math.ceil(readyApplyLagMs / this.#tickMs)));
  }

  /** Samples each group's commit index; once per tick. */
  tick(groups: Iterable<Group>): void {
    for (const g of groups) this.#trails.get(g.id)?.note(g.raft.status().commit);
  }

  ready(groups: Iterable<Group>): boolean {
    for (const g of groups) {
      const s = g.raft.status();
      if (s.leader === null || s.transferee !== null) return false;
      const before = this.#trails.get(g.id)?.oldest() ?? null;
      if (s.applied < s.commit && (before === null || s.applied < before)) return false;
    }
    return true;
  }
}
