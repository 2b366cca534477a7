/**
 * Majority arithmetic over a fixed set of voters, as pure functions (§5.2, §5.3).
 */

import type { Index, NodeId } from './types.js';

/** The smallest number of voters that forms a majority. */
export function quorumSize(voterCount: number): number {
  return Math.floor(voterCount / 2) + 1;
}

/** The highest index that a majority of `matches` (one per voter) has reached. */
export function committedIndex(matches: readonly Index[]): Index {
  const sorted = [...matches].sort((a, b) => b - a);
  return sorted[quorumSize(matches.length) - 1] ?? 0;
}

export type VoteResult = 'won' | 'lost' | 'pending';

/** Whether the votes gathered so far (true = granted) decide an election among `voters`. */
export function voteResult(voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  let granted = 0;
  let rejected = 0;
  for (const v of voters) {
    const vote = votes.get(v);
    if (vote === true) granted++;
    else if (vote === false) rejected++;
  }
  const quorum = quorumSize(voters.length);
  if (granted >= quorum) return 'won';
  if (rejected > voters.length - quorum) return 'lost';
  return 'pending';
}
