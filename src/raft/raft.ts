/**
 * Raft: one member's consensus state and its role transitions (§5, Figure 2). Terms are handled
 * once, at the top of step(); then one step function per role takes the message. Everything that
 * must leave the member is queued here (`msgs`, `readStates`) and collected by RaftNode into a
 * Ready. Synchronous and deterministic: time is tick(), randomness is the injected Rng.
 */

import { campaign, stepCandidate } from './candidate.js';
import { isMember, isValidConf, peersOf } from './conf.js';
import { stepFollower } from './follower.js';
import { assertNever, invariant } from './invariant.js';
import { stepLeader, tickLeader } from './leader.js';
import { RaftLog } from './log.js';
import type { Logger } from './logger.js';
import { Progress } from './progress.js';
import { ReadIndexRounds } from './read-index.js';
import type { Rng } from './rng.js';
import type {
  ConfState,
  DurableState,
  Index,
  Message,
  NodeId,
  RaftConfig,
  ReadState,
  Role,
  Term,
} from './types.js';
import { malformation } from './well-formed.js';

/** A message before the member stamps its id and term on it. */
export type Outgoing = Message extends infer M
  ? M extends Message
    ? Omit<M, 'from' | 'term'>
    : never
  : never;

export class Raft {
  readonly id: NodeId;
  readonly config: RaftConfig;
  readonly log: RaftLog;
  readonly rng: Rng;
  readonly logger: Logger;

  // Persistent state (Figure 2), persisted through Ready.hardState before any message that depends on it.
  term: Term;
  vote: NodeId | null;

  role: Role = 'follower';
  leader: NodeId | null = null;
  /** Votes received in the current (pre-)campaign; true = granted. */
  votes = new Map<NodeId, boolean>();
  /** Leader only: one Progress per peer, voter or learner. */
  progress = new Map<NodeId, Progress>();
  readonly reads = new ReadIndexRounds();
  /** Leader only: the member leadership is being handed to, and ticks since the transfer began. */
  transferee: NodeId | null = null;
  transferTicks = 0;
  /** Leader only: new entries wait to be broadcast in one append per follower (see RaftNode.ready). */
  broadcastPending = false;

  /** Ticks since the last election timeout reset (followers, candidates) or check-quorum (leader). */
  electionElapsed = 0;
  heartbeatElapsed = 0;
  // Invariant: electionTicks <= randomizedElectionTicks < 2 * electionTicks.
  randomizedElectionTicks: number;

  msgs: Message[] = [];
  readStates: ReadState[] = [];

  constructor(config: RaftConfig, durable: DurableState, rng: Rng, logger: Logger, applied: Index) {
    const initial = { voters: config.voters, learners: config.learners ?? [] };
    invariant(isValidConf(initial), 'the first configuration needs a voter and distinct members');
    invariant(
      config.heartbeatTicks >= 1 && config.heartbeatTicks < config.electionTicks,
      'need 1 <= heartbeatTicks < electionTicks',
    );
    this.id = config.id;
    this.config = config;
    this.rng = rng;
    this.logger = logger;
    const snapshot = durable.snapshot ?? RaftLog.empty(initial);
    this.log = new RaftLog(snapshot, durable.entries, durable.hardState.commit, applied);
    this.term = durable.hardState.term;
    this.vote = durable.hardState.vote;
    this.randomizedElectionTicks = this.#drawElectionTicks();
  }

  #peersOf: ConfState | null = null;
  #peers: readonly NodeId[] = [];

  /** The configuration in effect: the latest in our log (thesis §4.1). */
  get conf(): ConfState {
    return this.log.conf();
  }

  /** Every other member of the configuration, voter or learner. */
  get peers(): readonly NodeId[] {
    const conf = this.log.conf();
    if (this.#peersOf !== conf) {
      this.#peers = peersOf(conf, this.id);
      this.#peersOf = conf;
    }
    return this.#peers;
  }

  isVoter(id: NodeId): boolean {
    return this.log.conf().voters.includes(id);
  }

  /**
   * Whether this member may campaign: a voter, or a voter whose own removal is still
   * uncommitted (thesis §4.2.2: it may hold the only log that can win; as leader it does not
   * count itself and steps down once the removal commits).
   */
  promotable(): boolean {
    if (this.isVoter(this.id)) return true;
    const confIndex = this.log.confIndex();
    return confIndex > this.log.committed && this.log.confAt(confIndex - 1).voters.includes(this.id);
  }

  /** Queues a message, stamped with our id and (unless it carries its own) our term. */
  send(m: Outgoing & { term?: Term }): void {
    this.msgs.push({ ...m, from: this.id, term: m.term ?? this.term } as Message);
  }

  /** Hands the queued messages and read states to a Ready and starts new queues. */
  takeOutput(): { readonly msgs: Message[]; readonly readStates: ReadState[] } {
    const out = { msgs: this.msgs, readStates: this.readStates };
    this.msgs = [];
    this.readStates = [];
    return out;
  }

  // --- Role transitions -------------------------------------------------------------------

  becomeFollower(term: Term, leader: NodeId | null): void {
    this.#reset(term);
    this.role = 'follower';
    this.leader = leader;
    this.logger.debug({ term, leader }, 'became follower');
  }

  /** §9.6 pre-vote: ask for votes for term + 1 without changing the term or the vote. */
  becomePreCandidate(): void {
    invariant(this.role !== 'leader', 'a leader cannot become pre-candidate');
    this.votes = new Map();
    this.role = 'preCandidate';
    this.leader = null;
  }

  becomeCandidate(): void {
    invariant(this.role !== 'leader', 'a leader cannot become candidate');
    this.#reset(this.term + 1);
    this.vote = this.id;
    this.role = 'candidate';
    this.logger.debug({ term: this.term }, 'became candidate');
  }

  /** §5.2 and §8: a new leader appends a no-op entry of its term so it can commit. */
  becomeLeader(): void {
    invariant(this.role === 'candidate', 'only a candidate can become leader');
    this.#reset(this.term);
    this.role = 'leader';
    this.leader = this.id;
    const next = this.log.lastIndex() + 1;
    this.syncProgress(next);
    this.log.append([{ index: next, term: this.term, kind: 'noop', data: new Uint8Array(0) }]);
    this.broadcastPending = true;
    this.logger.info({ term: this.term }, 'became leader');
  }

  /**
   * Leader only: one Progress per member of the configuration in effect, new ones probing from
   * `next`. A member that a change still pending removes has a Progress too (it counts in no
   * quorum), so that it learns the removal committed, even when a new leader inherited the
   * change; then it is forgotten.
   */
  syncProgress(next: Index): void {
    const peers = this.peers;
    const pending = this.log.confIndex() > this.log.committed;
    const departing = pending ? peersOf(this.log.confAt(this.log.confIndex() - 1), this.id) : [];
    for (const id of this.progress.keys()) {
      if (!peers.includes(id) && !departing.includes(id)) this.progress.delete(id);
    }
    for (const peer of [...peers, ...departing]) {
      if (!this.progress.has(peer)) this.progress.set(peer, new Progress(next, this.config.inflightMax));
    }
  }

  #reset(term: Term): void {
    if (term !== this.term) {
      this.term = term;
      this.vote = null;
    }
    this.leader = null;
    this.votes = new Map();
    this.progress = new Map();
    this.reads.reset();
    this.transferee = null;
    this.transferTicks = 0;
    this.broadcastPending = false;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTicks = this.#drawElectionTicks();
  }

  #drawElectionTicks(): number {
    return this.config.electionTicks + this.rng.nextInt(this.config.electionTicks);
  }

  /** §5.2 with check-quorum: we heard from a live leader within the election timeout. */
  inLease(): boolean {
    return (
      this.config.checkQuorum && this.leader !== null && this.electionElapsed < this.config.electionTicks
    );
  }

  // --- Time ---------------------------------------------------------------------------------

  tick(): void {
    if (this.role === 'leader') {
      tickLeader(this);
      return;
    }
    this.electionElapsed++;
    // Learners and members removed from the configuration never campaign.
    if (this.electionElapsed >= this.randomizedElectionTicks && this.promotable()) {
      this.electionElapsed = 0;
      campaign(this, this.config.preVote ? 'preElection' : 'election');
    }
  }

  /**
   * The shell saw every connection to `peer` refused or reset at once: its process is gone, not
   * merely slow or cut off (that one is only silent, and the election timeout finds it). A
   * follower whose leader that is ends its lease at once (it forgets the leader) and campaigns,
   * with pre-vote, a few ticks later instead of waiting out the election timeout: after
   * `1 + 2 × rank` ticks, `rank` being its place among the other voters by id, so that members
   * that saw the same loss take turns rather than split the vote. Safe because it is pre-vote:
   * while the leader lives and a majority hears it, they refuse (their lease holds), and a
   * follower that lost only its own connections deposes nobody; its next heartbeat from the
   * leader makes it a follower again. Without pre-vote, or without check-quorum (no lease: the
   * others would grant the pre-vote and the real vote), the hint is ignored.
   */
  peerGone(peer: NodeId): void {
    const { preVote, checkQuorum } = this.config;
    if (!preVote || !checkQuorum || this.role !== 'follower' || this.leader !== peer || !this.promotable())
      return;
    this.leader = null;
    const rank = this.conf.voters
      .filter((v) => v !== peer)
      .sort()
      .indexOf(this.id);
    this.electionElapsed = Math.max(this.electionElapsed, this.randomizedElectionTicks - (1 + 2 * rank));
    this.logger.info({ peer, term: this.term }, 'the leader is gone (connections refused): campaigning soon');
  }

  // --- Messages -----------------------------------------------------------------------------

  /**
   * Takes one message from a peer. Input that is not for us, or stale, is dropped. Messages from
   * outside our configuration are taken (a replica catching up replays configurations that may
   * predate its leader). Votes do not depend on our configuration (thesis §4.1): our log may
   * lack the entry that made the candidate a voter. But while we lead, or hear from a leader
   * (within an election timeout), a vote request from outside our configuration (a removed
   * member) is ignored: it cannot make us change term or vote, so it cannot disrupt the group, with or
   * without check-quorum's lease (§4.2.3). Only while we hear from it: a member whose
   * configuration is stale (it missed the change that made the candidate a voter) and who cannot
   * campaign itself would otherwise keep a leader that is gone forever, and refuse the vote the
   * group needs to elect a new one.
   */
  step(m: Message): void {
    if (m.to !== this.id || m.from === this.id) {
      this.logger.warn({ from: m.from, to: m.to, type: m.type }, 'dropped message not for this group member');
      return;
    }
    if (
      m.type === 'requestVote' &&
      this.leader !== null &&
      (this.role === 'leader' || this.electionElapsed < this.config.electionTicks) &&
      !isMember(this.log.conf(), m.from)
    ) {
      this.logger.debug({ from: m.from, term: m.term }, 'ignored vote request from a non-member');
      return;
    }
    const malformed = malformation(m);
    if (malformed !== null) {
      this.logger.warn({ from: m.from, type: m.type, reason: malformed }, 'dropped malformed message');
      return;
    }
    if (m.term > this.term) {
      if (!this.#stepHigherTerm(m)) return;
    } else if (m.term < this.term) {
      this.#stepLowerTerm(m);
      return;
    }
    if (m.type === 'requestVote') {
      this.#onRequestVote(m);
      return;
    }
    switch (this.role) {
      case 'leader':
        return stepLeader(this, m);
      case 'candidate':
      case 'preCandidate':
        if (m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot') {
          // §5.2: a leader of our term exists; recognise it.
          this.becomeFollower(m.term, m.from);
          return stepFollower(this, m);
        }
        return stepCandidate(this, m);
      case 'follower':
        return stepFollower(this, m);
      default:
        return assertNever(this.role);
    }
  }

  /** §5.1: a higher term makes us a follower, except for pre-votes and vote requests in a lease. */
  #stepHigherTerm(m: Message): boolean {
    if (m.type === 'requestVote') {
      if (!m.transfer && this.inLease()) {
        // §9.6 / §4.2.3: a member that heard from a leader recently ignores disruptive campaigns.
        this.logger.debug({ from: m.from, term: m.term }, 'ignored vote request within leader lease');
        return false;
      }
      if (m.pre) return true;
    }
    if (m.type === 'voteReply' && m.pre && m.granted) return true;
    const fromLeader = m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot';
    this.becomeFollower(m.term, fromLeader ? m.from : null);
    return true;
  }

  #stepLowerTerm(m: Message): void {
    if ((this.config.checkQuorum || this.config.preVote) && (m.type === 'append' || m.type === 'heartbeat')) {
      // A stale leader, or we raised our term while cut off: tell it our term so that one of us
      // moves on (otherwise a member whose term ran ahead could never rejoin under check-quorum).
      this.send({ type: 'appendReply', to: m.from, index: 0, ok: false, hint: null });
    } else if (m.type === 'requestVote' && m.pre) {
      this.send({ type: 'voteReply', to: m.from, pre: true, granted: false });
    }
  }

  /** §5.2, §5.4.1: at most one vote per term, only for a log at least as up-to-date as ours. */
  #onRequestVote(m: Extract<Message, { type: 'requestVote' }>): void {
    const canVote =
      this.vote === m.from || (this.vote === null && this.leader === null) || (m.pre && m.term > this.term);
    const granted = canVote && this.log.isUpToDate(m.lastIndex, m.lastTerm);
    if (granted) {
      this.send({ type: 'voteReply', to: m.from, pre: m.pre, granted: true, term: m.term });
      if (!m.pre) {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send({ type: 'voteReply', to: m.from, pre: m.pre, granted: false });
    }
    this.logger.debug({ from: m.from, term: m.term, pre: m.pre, granted }, 'answered vote request');
  }
}
