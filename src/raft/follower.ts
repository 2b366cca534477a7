/**
 * The follower's side of replication (§5.3), heartbeats, snapshots (§7) and leadership
 * transfer (thesis §3.10), and the follower's step function.
 */

import { campaign } from './candidate.js';
import type { Raft } from './raft.js';
import type { Message } from './types.js';

type Msg<T extends Message['type']> = Extract<Message, { type: T }>;

export function stepFollower(r: Raft, m: Message): void {
  switch (m.type) {
    case 'append':
      r.electionElapsed = 0;
      r.leader = m.from;
      return onAppend(r, m);
    case 'heartbeat':
      r.electionElapsed = 0;
      r.leader = m.from;
      return onHeartbeat(r, m);
    case 'snapshot':
      r.electionElapsed = 0;
      r.leader = m.from;
      return onSnapshot(r, m);
    case 'timeoutNow':
      if (!r.isVoter(r.id)) return;
      // §3.10: the leader asks us to start an election at once, skipping pre-vote.
      r.logger.info({ from: m.from, term: r.term }, 'leadership transfer: campaigning now');
      return campaign(r, 'transfer');
    case 'voteReply':
    case 'appendReply':
    case 'heartbeatReply':
    case 'requestVote':
      return;
  }
}

/** §5.3: the consistency check, then append; a rejection carries the conflict hint. */
export function onAppend(r: Raft, m: Msg<'append'>): void {
  if (m.prevIndex < r.log.committed) {
    // Everything up to our commit index already agrees with any leader's log (§5.4).
    r.send({ type: 'appendReply', to: m.from, index: r.log.committed, ok: true, hint: null });
    return;
  }
  const lastNew = r.log.maybeAppend(m.prevIndex, m.prevTerm, m.commit, m.entries);
  if (lastNew !== null) {
    r.send({ type: 'appendReply', to: m.from, index: lastNew, ok: true, hint: null });
    return;
  }
  const hint = r.log.conflictHint(m.prevIndex);
  r.logger.debug({ prevIndex: m.prevIndex, prevTerm: m.prevTerm, hint }, 'rejected append');
  r.send({ type: 'appendReply', to: m.from, index: m.prevIndex, ok: false, hint });
}

export function onHeartbeat(r: Raft, m: Msg<'heartbeat'>): void {
  // The leader sends min(match, commit), so this never passes what agrees with its log.
  if (m.commit <= r.log.lastIndex()) r.log.commitTo(m.commit);
  else r.logger.warn({ commit: m.commit, lastIndex: r.log.lastIndex() }, 'heartbeat commit beyond log end');
  r.send({ type: 'heartbeatReply', to: m.from, read: m.read });
}

/** §7: install a snapshot unless our log already covers it (it may arrive late or twice). */
export function onSnapshot(r: Raft, m: Msg<'snapshot'>): void {
  const { index, term } = m.snapshot.meta;
  if (index <= r.log.committed) {
    r.send({ type: 'appendReply', to: m.from, index: r.log.committed, ok: true, hint: null });
    return;
  }
  if (r.log.matchTerm(index, term)) {
    // Our log holds the snapshot's last entry: keep the log, the snapshot only tells us it is committed.
    r.log.commitTo(index);
  } else {
    r.log.restore(m.snapshot);
    r.logger.info({ index, term }, 'restoring snapshot');
  }
  r.send({ type: 'appendReply', to: m.from, index: r.log.committed, ok: true, hint: null });
}
