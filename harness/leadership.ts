/**
 * Who leads a shard, read from the groups that nodes report in GET /v1/status: pure functions of
 * those reports, so the cluster's waits and the fault suite agree on what "has a leader" means.
 */

import type { GroupStatus } from './node-api.js';

/** The groups each node that answered reports, by node id. */
export type Reports = ReadonlyMap<string, readonly GroupStatus[]>;

/** The node that says it leads `shard` with the highest term, or null. */
export function highestTermLeader(reports: Reports, shard: number): string | null {
  let best: GroupStatus | null = null;
  for (const groups of reports.values()) {
    const g = groups.find((x) => x.shard === shard);
    if (g?.role === 'leader' && (best === null || g.term > best.term)) best = g;
  }
  return best?.id ?? null;
}

/**
 * The leader of `shard` that more than half of its `members` acknowledge (the same leader in the
 * same term) and that says so itself in that term, or null.
 */
export function majorityLeader(reports: Reports, shard: number, members: number): string | null {
  const votes = new Map<string, { leader: string; term: number; count: number }>();
  for (const groups of reports.values()) {
    const g = groups.find((x) => x.shard === shard);
    if (g?.leader == null) continue;
    const key = `${g.leader}@${g.term}`;
    const v = votes.get(key) ?? { leader: g.leader, term: g.term, count: 0 };
    votes.set(key, { ...v, count: v.count + 1 });
  }
  for (const { leader, term, count } of votes.values()) {
    const own = reports.get(leader)?.find((x) => x.shard === shard);
    if (count > members / 2 && own?.role === 'leader' && own.term === term) return leader;
  }
  return null;
}
