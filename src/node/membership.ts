/**
 * Changing a shard group's members from this node, its leader (README's API "Changing the
 * cluster"): one configuration change proposed to the Raft core and awaited until applied, and
 * the wait for a learner to catch up before it is promoted. The refusals of the core become the
 * API's errors: another change pending is `conflict`, a change that does not fit is `bad_request`.
 */

import { groupName } from '../membership/index.js';
import type { ConfChange, ConfChangeResult, ConfState, NodeId } from '../raft/types.js';
import type { Clock } from './clock.js';
import { badRequest, conflict, NotLeaderError, unavailable } from './errors.js';
import type { AnyGroup } from './group.js';

type Refusal = Extract<ConfChangeResult, { ok: false }>;

/** Why the core refused `change`, as the error the caller gets; nothing was proposed. */
export function refusalError(shard: number, change: ConfChange, r: Refusal): Error {
  const who = `node ${change.node}`;
  switch (r.reason) {
    case 'notLeader':
      return new NotLeaderError(shard);
    case 'transferring':
      return unavailable(`leadership of ${groupName(shard)} is moving; nothing was changed`);
    case 'pending':
      return conflict(
        `another membership change of ${groupName(shard)} is pending (or its new leader has not committed yet); nothing was changed`,
      );
    case 'alreadyMember':
      return badRequest(
        `${who} is already ${change.type === 'promote' ? 'a voter' : 'a member'} of ${groupName(shard)}`,
      );
    case 'notMember':
      return badRequest(`${who} is not a member of ${groupName(shard)}`);
    case 'notLearner':
      return badRequest(`${who} is not a learner of ${groupName(shard)}; add it as a learner first`);
    case 'learnerBehind':
      return badRequest(
        `${who} has not caught up with ${groupName(shard)}'s leader yet; promote it once it has`,
      );
    case 'noVoterLeft':
      return badRequest(`removing ${who} would leave ${groupName(shard)} without a voter`);
    case 'quorumAtRisk':
      return badRequest(
        `the change would leave ${groupName(shard)} without a majority of voters that are up to date; bring its members up to date first`,
      );
  }
}

/**
 * Proposes `change` on `g` (this node must lead it) and resolves with the configuration in
 * effect once the change is applied. A leader so new that it has not committed an entry of its
 * term yet (no change is pending) is waited for, up to `settleMs`: it is a matter of one round.
 * Throws the refusal's error before anything was proposed, or the waiters' error
 * (`unavailable` / `timeout`) when the outcome cannot be awaited.
 */
export async function changeMembers(
  g: AnyGroup,
  change: ConfChange,
  o: {
    readonly schedule: () => void;
    readonly deadlineMs: number;
    readonly clock: Clock;
    readonly pollMs: number;
    readonly settleMs: number;
    /** Called once the change is in the log: from then on it may commit, whatever this call returns. */
    readonly onProposed?: () => void;
  },
): Promise<ConfState> {
  const settleBy = o.clock.now() + o.settleMs;
  let res = g.raft.proposeConfChange(change);
  while (!res.ok && res.reason === 'pending' && o.clock.now() < settleBy) {
    const s = g.raft.status();
    if (s.confIndex > s.commit) break;
    await new Promise<void>((resolve) => o.clock.after(o.pollMs, resolve));
    res = g.raft.proposeConfChange(change);
  }
  if (!res.ok) throw refusalError(g.id, change, res);
  o.onProposed?.();
  o.schedule();
  await g.waiters.waitConfig(res.index, res.term, o.deadlineMs);
  return g.raft.conf();
}

/**
 * Resolves once learner `node` of `g` is within `lagMax` entries of this leader's log; throws
 * `unavailable` when this node stops leading or the deadline passes first.
 */
export async function caughtUp(
  g: AnyGroup,
  node: NodeId,
  o: { readonly lagMax: number; readonly deadlineMs: number; readonly clock: Clock; readonly pollMs: number },
): Promise<void> {
  for (;;) {
    const s = g.raft.status();
    if (s.role !== 'leader') throw new NotLeaderError(g.id);
    const f = g.raft.followers().find((x) => x.id === node);
    if (f !== undefined && s.lastIndex - f.match <= o.lagMax) return;
    if (o.clock.now() >= o.deadlineMs) {
      throw unavailable(`node ${node} did not catch up with ${groupName(g.id)} in time; it stays a learner`);
    }
    await new Promise<void>((resolve) => o.clock.after(o.pollMs, resolve));
  }
}
