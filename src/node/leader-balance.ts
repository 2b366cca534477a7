/**
 * Leaders spread evenly: each shard's preferred leader is the one the rebalancer chose in the
 * node table (spread within one of the mean per node), else its first member (the cluster
 * file's placement spreads those over the nodes). A leader that is not the preferred one hands over once the preferred
 * member is replicating and close behind, e.g. after the first election or a failover and the
 * failed node's return.
 */

import type { Logger } from 'pino';
import type { NodeId } from '../raft/types.js';
import type { Group } from './group.js';

/** How often (in ticks) a leader checks whether the shard's preferred leader should take over. */
export const balanceEveryTicks = 25;
/** A preferred leader this far behind is left to catch up before leadership moves to it. */
export const balanceLagEntriesMax = 1_000;

/**
 * The shard's preferred leader: the table's choice (`chosen`; null: none, or not a voter here),
 * or with no table yet (undefined) its first member.
 */
export function preferredLeader(g: Group, chosen?: NodeId | null): NodeId | null {
  if (chosen === undefined) return g.members[0] ?? null;
  return chosen !== null && g.raft.conf().voters.includes(chosen) ? chosen : null;
}

/**
 * Hands leadership of every group `self` leads to the group's preferred member, where it is due
 * and the member can take it: `eligible` says no to a member that is stopping (it would refuse,
 * and writes would wait out the transfer) or not connected.
 */
export function balanceLeaders(
  self: NodeId,
  groups: Iterable<Group>,
  log: Logger,
  chosen: (shard: number) => NodeId | null | undefined = () => undefined,
  eligible: (member: NodeId) => boolean = () => true,
): void {
  for (const g of groups) {
    const preferred = preferredLeader(g, chosen(g.id));
    if (preferred === null || preferred === self || !eligible(preferred)) continue;
    const s = g.raft.status();
    if (s.role !== 'leader' || s.transferee !== null) continue;
    const f = g.raft.followers().find((x) => x.id === preferred);
    // The transfer itself catches the target up; only a member already replicating closely is asked.
    if (f === undefined || f.state !== 'replicate' || s.lastIndex - f.match > balanceLagEntriesMax) continue;
    log.info({ group: g.id, to: preferred }, 'handing leadership to the preferred leader');
    if (g.raft.transferLeadership(preferred).ok) g.observer.transferNoted();
  }
}
