/**
 * Elections (§5.2) with pre-vote (thesis §9.6): campaigning, and the step function of
 * pre-candidates and candidates.
 */

import { voteResult } from './quorum.js';
import type { Raft } from './raft.js';
import type { Message } from './types.js';

export type CampaignKind = 'preElection' | 'election' | 'transfer';

/**
 * Starts a campaign. A pre-election asks whether we could win term + 1 without touching our
 * term; a transfer campaign (after TimeoutNow) skips pre-vote and the voters' leader lease.
 */
export function campaign(r: Raft, kind: CampaignKind): void {
  const pre = kind === 'preElection';
  if (pre) r.becomePreCandidate();
  else r.becomeCandidate();
  const term = pre ? r.term + 1 : r.term;
  r.votes.set(r.id, true);
  if (poll(r)) return;
  for (const peer of r.conf.voters) {
    if (peer === r.id) continue;
    r.send({
      type: 'requestVote',
      to: peer,
      term,
      pre,
      lastIndex: r.log.lastIndex(),
      lastTerm: r.log.lastTerm(),
      transfer: kind === 'transfer',
    });
  }
  r.logger.debug({ term, kind }, 'campaign started');
}

/** Acts on the votes so far; returns true when the campaign is decided. */
function poll(r: Raft): boolean {
  switch (voteResult(r.conf.voters, r.votes)) {
    case 'won':
      if (r.role === 'preCandidate') {
        campaign(r, 'election');
      } else {
        r.becomeLeader();
      }
      return true;
    case 'lost':
      r.becomeFollower(r.term, null);
      return true;
    case 'pending':
      return false;
  }
}

/** Messages from a leader of our term were turned into follower steps by Raft.step; only votes remain. */
export function stepCandidate(r: Raft, m: Message): void {
  if (m.type !== 'voteReply' || m.pre !== (r.role === 'preCandidate')) return;
  r.votes.set(m.from, m.granted);
  poll(r);
}
