/**
 * The leader: replication with a conflict hint and a bounded pipeline (§5.3), commitment by
 * counting only entries of its own term (§5.4.2), heartbeats, check-quorum (thesis §6.2),
 * ReadIndex rounds (§6.4), snapshots to followers that fell behind compaction (§7) and
 * leadership transfer (§3.10).
 */

import { changedConf, encodeConf } from './conf.js';
import type { Progress } from './progress.js';
import { committedIndex, quorumSize } from './quorum.js';
import type { Raft } from './raft.js';
import type {
  ConfChange,
  ConfChangeResult,
  Index,
  Message,
  NodeId,
  ProposeResult,
  ReadIndexResult,
  TransferResult,
} from './types.js';

type Msg<T extends Message['type']> = Extract<Message, { type: T }>;

/** In snapshot state, a follower that has not confirmed the snapshot after this many election timeouts is probed again. */
const snapshotRetryElections = 5;

export function tickLeader(r: Raft): void {
  r.heartbeatElapsed++;
  r.electionElapsed++;
  if (r.electionElapsed >= r.config.electionTicks) {
    r.electionElapsed = 0;
    if (r.config.checkQuorum && !checkQuorum(r)) {
      r.logger.warn({ term: r.term }, 'stepped down: no quorum heard from within an election timeout');
      r.becomeFollower(r.term, null);
      return;
    }
  }
  if (r.transferee !== null && ++r.transferTicks >= r.config.electionTicks) {
    r.logger.warn({ transferee: r.transferee }, 'leadership transfer timed out');
    r.transferee = null;
  }
  for (const [peer, pr] of r.progress) {
    if (pr.state === 'snapshot' && ++pr.snapshotTicks >= snapshotRetryElections * r.config.electionTicks) {
      pr.becomeProbe();
      sendAppend(r, peer, pr);
    }
  }
  if (r.heartbeatElapsed >= r.config.heartbeatTicks) {
    r.heartbeatElapsed = 0;
    bcastHeartbeat(r);
  }
}

/**
 * Thesis §6.2: true if a majority of the voters (us included, if we are one) was heard from
 * since the last check; resets the marks. Learners never count.
 */
function checkQuorum(r: Raft): boolean {
  const { voters } = r.conf;
  let active = voters.includes(r.id) ? 1 : 0;
  for (const [id, pr] of r.progress) {
    if (pr.recentActive && voters.includes(id)) active++;
    pr.recentActive = false;
  }
  return active >= quorumSize(voters.length);
}

export function stepLeader(r: Raft, m: Message): void {
  stepLeaderMessage(r, m);
  maybeStepDownRemoved(r);
}

function stepLeaderMessage(r: Raft, m: Message): void {
  const pr = r.progress.get(m.from);
  if (pr === undefined) return;
  switch (m.type) {
    case 'appendReply':
      pr.recentActive = true;
      return m.ok ? onAppendAccepted(r, m, pr) : onAppendRejected(r, m, pr);
    case 'heartbeatReply':
      pr.recentActive = true;
      return onHeartbeatReply(r, m, pr);
    case 'append':
    case 'heartbeat':
    case 'snapshot':
      r.logger.warn({ from: m.from, term: m.term, type: m.type }, 'second leader in one term ignored');
      return;
    case 'voteReply':
    case 'timeoutNow':
    case 'requestVote':
      return;
  }
}

function onAppendAccepted(r: Raft, m: Msg<'appendReply'>, pr: Progress): void {
  // A follower that was paused missed any commit broadcast meanwhile (etcd's oldPaused).
  const wasPaused = pr.isPaused();
  if (pr.maybeUpdate(m.index)) {
    if (pr.state === 'probe') pr.becomeReplicate();
    else if (pr.state === 'snapshot' && pr.match + 1 >= r.log.firstIndex()) pr.becomeReplicate();
    else if (pr.state === 'replicate') pr.inflights.freeLE(m.index);
    // A new commit index reaches every follower in one append each per Ready (see RaftNode.ready),
    // however many replies advanced it.
    if (maybeCommit(r)) r.broadcastPending = true;
    else if (wasPaused) sendAppend(r, m.from, pr);
    while (sendAppend(r, m.from, pr, false));
    // A follower skipped by a commit broadcast while it had appends in flight learns it now.
    if (pr.sentCommit < Math.min(r.log.committed, pr.match)) sendAppend(r, m.from, pr);
    if (m.from === r.transferee && pr.match === r.log.lastIndex()) {
      r.send({ type: 'timeoutNow', to: m.from });
    }
  }
}

/** §5.3 with the conflict hint: back up past the whole conflicting term at once. */
function onAppendRejected(r: Raft, m: Msg<'appendReply'>, pr: Progress): void {
  if (m.hint === null) return;
  const nextHint =
    m.hint.term === 0 ? m.hint.index : (r.log.nextAfterTerm(m.hint.term, m.index) ?? m.hint.index);
  if (pr.maybeDecrTo(m.index, nextHint)) {
    r.logger.debug({ to: m.from, rejected: m.index, next: pr.next }, 'follower log conflict; backing up');
    if (pr.state === 'replicate') pr.becomeProbe();
    sendAppend(r, m.from, pr);
  }
}

function onHeartbeatReply(r: Raft, m: Msg<'heartbeatReply'>, pr: Progress): void {
  pr.probeSent = false;
  // A lost append could otherwise hold a full window shut for good.
  if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirst();
  if (pr.match < r.log.lastIndex()) sendAppend(r, m.from, pr);
  if (m.read !== 0 && r.isVoter(m.from)) {
    r.readStates.push(...r.reads.ack(m.from, m.read, r.conf.voters.length));
    maybeStartReadRound(r);
  }
}

/**
 * Sends the follower the next batch of entries after `pr.next`, or the snapshot when they are
 * compacted away. Returns false when nothing was sent (paused, or nothing to send and !sendIfEmpty).
 */
export function sendAppend(r: Raft, to: NodeId, pr: Progress, sendIfEmpty = true): boolean {
  if (pr.isPaused()) return false;
  const prevIndex = pr.next - 1;
  const prevTerm = r.log.term(prevIndex);
  if (prevTerm === null) return sendSnapshot(r, to, pr);
  const entries = r.log.slice(pr.next, r.log.lastIndex() + 1, r.config.batchBytesMax);
  if (entries.length === 0 && !sendIfEmpty) return false;
  r.send({ type: 'append', to, prevIndex, prevTerm, entries, commit: r.log.committed });
  // The follower commits up to the last entry this append proves it shares with us (§5.3).
  pr.sentCommit = Math.max(pr.sentCommit, Math.min(r.log.committed, prevIndex + entries.length));
  if (pr.state === 'probe') pr.probeSent = true;
  const last = entries.at(-1);
  if (last !== undefined) pr.sentEntries(last.index);
  return true;
}

function sendSnapshot(r: Raft, to: NodeId, pr: Progress): boolean {
  const snapshot = r.log.snapshot;
  pr.becomeSnapshot(snapshot.meta.index);
  r.send({ type: 'snapshot', to, snapshot });
  r.logger.info({ to, index: snapshot.meta.index }, 'sent snapshot to follower behind compaction');
  return true;
}

/**
 * Sends every follower what it lacks: new entries, and the commit index where it lacks it. A
 * follower with appends in flight gets no append that would carry only the commit index: its
 * next reply brings it new entries or the commit (see onAppendAccepted), saving a round of
 * messages per commit under load.
 */
export function bcastAppend(r: Raft): void {
  r.broadcastPending = false;
  for (const [peer, pr] of r.progress) {
    const busy = pr.state === 'replicate' && pr.inflights.count() > 0;
    sendAppend(r, peer, pr, !busy && pr.sentCommit < r.log.committed);
  }
}

/** Heartbeats carry the ReadIndex round in flight, so any of them can confirm it. */
function bcastHeartbeat(r: Raft): void {
  const read = r.reads.inflightSeq();
  for (const [peer, pr] of r.progress) {
    // Never tell a follower to commit past what it is known to hold in agreement with us.
    const commit = Math.min(pr.match, r.log.committed);
    pr.sentCommit = Math.max(pr.sentCommit, commit);
    r.send({ type: 'heartbeat', to: peer, commit, read });
  }
}

/**
 * §5.3, §5.4.2: commit the highest index a majority of the voters holds, if it is of our term.
 * A leader that its own pending removal took out of the voters does not count itself (§4.2.2).
 */
export function maybeCommit(r: Raft): boolean {
  const matches = r.conf.voters.map((v) => (v === r.id ? r.log.stable : (r.progress.get(v)?.match ?? 0)));
  const confPending = r.log.confIndex() > r.log.committed;
  if (!r.log.maybeCommit(committedIndex(matches), r.term)) return false;
  if (confPending && r.log.committed >= r.log.confIndex()) forgetDeparted(r);
  maybeStartReadRound(r);
  return true;
}

/**
 * A removal committed: the removed member hears so in one last append, then is no longer
 * replicated to. The append goes even while a probe or a full window is in flight (no later
 * message would carry the commit), from where the last one went: a member that holds those
 * entries accepts it, whatever commit index an earlier leader gave it.
 */
function forgetDeparted(r: Raft): void {
  for (const [id, pr] of r.progress) {
    if (r.peers.includes(id)) continue;
    if (pr.state === 'probe') pr.probeSent = false;
    else if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirst();
    sendAppend(r, id, pr);
    r.progress.delete(id);
  }
}

/**
 * Thesis §6.4: once the leader has committed an entry of its term, queued reads take the current
 * commit index as read index and one heartbeat round confirms leadership for all of them.
 */
export function maybeStartReadRound(r: Raft): void {
  if (!r.reads.canStartRound() || r.log.term(r.log.committed) !== r.term) return;
  const { voters } = r.conf;
  if (voters.length === 1 && voters[0] === r.id) {
    r.readStates.push(...r.reads.drainWithoutRound(r.log.committed));
    return;
  }
  r.reads.startRound(r.log.committed, voters.includes(r.id) ? r.id : null);
  bcastHeartbeat(r);
}

/** Thesis §3.10: bring the transferee up to date, then tell it to campaign at once. */
export function startTransfer(r: Raft, to: NodeId): void {
  const pr = r.progress.get(to)!;
  r.transferee = to;
  r.transferTicks = 0;
  r.logger.info({ to }, 'leadership transfer started');
  if (pr.match === r.log.lastIndex()) r.send({ type: 'timeoutNow', to });
  else sendAppend(r, to, pr);
}

/**
 * Appends a command to the leader's log (refused when not leader, while a transfer runs, or past
 * `uncommittedEntriesMax`). New entries of one Ready go out in one append per follower.
 */
export function propose(r: Raft, data: Uint8Array): ProposeResult {
  if (r.role !== 'leader') return { ok: false, reason: 'notLeader', leader: r.leader };
  if (r.transferee !== null) return { ok: false, reason: 'transferring', leader: r.leader };
  if (r.log.lastIndex() - r.log.committed >= r.config.uncommittedEntriesMax) {
    return { ok: false, reason: 'overloaded', leader: r.leader };
  }
  const index = r.log.lastIndex() + 1;
  r.log.append([{ index, term: r.term, kind: 'command', data }]);
  r.broadcastPending = true;
  return { ok: true, index, term: r.term };
}

/** Queues a linearizable read (§6.4) and starts a round when none runs. */
export function requestReadIndex(r: Raft, ctx: string): ReadIndexResult {
  if (r.role !== 'leader') return { ok: false, reason: 'notLeader', leader: r.leader };
  if (r.reads.size() >= r.config.pendingReadsMax)
    return { ok: false, reason: 'overloaded', leader: r.leader };
  r.reads.enqueue(ctx);
  maybeStartReadRound(r);
  return { ok: true };
}

/** Thesis §3.10: starts handing leadership to `to`, a current member other than this one. */
export function requestTransfer(r: Raft, to: NodeId): TransferResult {
  if (r.role !== 'leader') return { ok: false, reason: 'notLeader' };
  if (to === r.id) return { ok: false, reason: 'self' };
  if (!r.isVoter(to)) return { ok: false, reason: 'unknownMember' };
  if (r.transferee !== null) return { ok: false, reason: 'transferring' };
  startTransfer(r, to);
  return { ok: true };
}

/** Sends the appends that new entries are waiting for (once per Ready; see propose). */
export function flushBroadcast(r: Raft): void {
  if (r.broadcastPending) bcastAppend(r);
}

/**
 * Thesis §10.2.1: the leader counts its own log in the quorum only once it is durable, so the
 * shell's report that entries were persisted may commit them.
 */
export function ownEntriesDurable(r: Raft): void {
  if (r.role === 'leader' && maybeCommit(r)) r.broadcastPending = true;
  maybeStepDownRemoved(r);
}

/**
 * Thesis §4.2.2 with the rules of conf.ts: appends a change of configuration, which takes effect
 * on this leader at once. Refused while another change is uncommitted, before this leader has
 * committed an entry of its own term, and when the change does not fit: a learner is promoted
 * only within `promoteLagMax` entries of our log, and no promotion or removal may leave the
 * voters without a majority that is caught up to within that distance.
 */
export function proposeConfChange(r: Raft, change: ConfChange): ConfChangeResult {
  const leader = r.leader;
  if (r.role !== 'leader') return { ok: false, reason: 'notLeader', leader };
  if (r.transferee !== null) return { ok: false, reason: 'transferring', leader };
  if (r.log.confIndex() > r.log.committed || r.log.term(r.log.committed) !== r.term) {
    return { ok: false, reason: 'pending', leader };
  }
  const next = changedConf(r.conf, change);
  if (typeof next === 'string') return { ok: false, reason: next, leader };
  const caughtUp = (id: NodeId): boolean =>
    id === r.id || r.log.lastIndex() - (r.progress.get(id)?.match ?? 0) <= r.config.promoteLagMax;
  if (change.type === 'promote' && !caughtUp(change.node))
    return { ok: false, reason: 'learnerBehind', leader };
  if (next.voters.filter(caughtUp).length < quorumSize(next.voters.length)) {
    return { ok: false, reason: 'quorumAtRisk', leader };
  }
  const index = r.log.lastIndex() + 1;
  r.log.append([{ index, term: r.term, kind: 'config', data: encodeConf(next) }]);
  r.syncProgress(index);
  r.broadcastPending = true;
  r.logger.info(
    { change, index, voters: next.voters, learners: next.learners },
    'configuration change proposed',
  );
  return { ok: true, index, term: r.term };
}

/**
 * Thesis §4.2.2: a leader that is no longer a voter leads until the change that removed it
 * commits, then tells the followers the commit index, hands leadership to the most up-to-date
 * voter when one has all of its log, and steps down. Not being a voter, it never campaigns again.
 */
function maybeStepDownRemoved(r: Raft): void {
  if (r.role !== 'leader' || r.isVoter(r.id) || r.log.committed < r.log.confIndex()) return;
  bcastAppend(r);
  const heir = bestVoter(r);
  if (heir !== null && r.progress.get(heir)!.match === r.log.lastIndex())
    r.send({ type: 'timeoutNow', to: heir });
  r.logger.info({ heir }, 'stepped down: removed from the configuration');
  r.becomeFollower(r.term, null);
}

function bestVoter(r: Raft): NodeId | null {
  let best: NodeId | null = null;
  let bestMatch: Index = -1;
  for (const [id, pr] of r.progress) {
    if (r.isVoter(id) && pr.match > bestMatch) {
      best = id;
      bestMatch = pr.match;
    }
  }
  return best;
}
