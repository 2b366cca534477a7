/**
 * RaftNode: the public face of the core. Input goes in through tick(), step(), propose(),
 * readIndex() and transferLeadership(); everything the shell must do comes out as one Ready at a
 * time, which the shell carries out in the order `Ready` documents and hands back with advance().
 * Synchronous and deterministic; see raft.ts for the algorithm.
 */

import { invariant } from './invariant.js';
import {
  flushBroadcast,
  ownEntriesDurable,
  propose,
  proposeConfChange,
  requestReadIndex,
  requestTransfer,
} from './leader.js';
import { type Logger, silentLogger } from './logger.js';
import { Raft } from './raft.js';
import type { Rng } from './rng.js';
import type {
  ConfChange,
  ConfChangeResult,
  ConfState,
  DurableState,
  Entry,
  FollowerStatus,
  HardState,
  Index,
  Message,
  NodeId,
  ProposeResult,
  RaftConfig,
  RaftStatus,
  ReadIndexResult,
  Ready,
  SnapshotMeta,
  SoftState,
  Term,
  TransferResult,
} from './types.js';

export interface RaftNodeDeps {
  readonly rng: Rng;
  readonly log?: Logger;
  /** What the state machine has applied already; defaults to the snapshot's index. */
  readonly applied?: Index;
}

export class RaftNode {
  readonly #raft: Raft;
  #prevHardState: HardState;
  #prevSoftState: SoftState;
  /** The Ready handed out and not yet advanced; ready() may not be called again meanwhile. */
  #pending: Ready | null = null;

  constructor(config: RaftConfig, durable: DurableState, deps: RaftNodeDeps) {
    this.#raft = new Raft(config, durable, deps.rng, deps.log ?? silentLogger, deps.applied ?? 0);
    this.#prevHardState = this.#hardState();
    this.#prevSoftState = this.#softState();
  }

  /** Advances logical time by one tick: election timeouts, heartbeats, check-quorum. */
  tick(): void {
    this.#raft.tick();
  }

  /** Every connection to `peer` was refused or reset: see Raft.peerGone. */
  peerGone(peer: NodeId): void {
    this.#raft.peerGone(peer);
  }

  /** Takes a message from a peer. Messages not for this member, or stale, are dropped, never thrown. */
  step(msg: Message): void {
    this.#raft.step(msg);
  }

  /**
   * Appends a command to the leader's log. Success means it was appended at (index, term), not
   * that it will commit: it has committed if and when an entry at that index and term is applied.
   */
  propose(data: Uint8Array): ProposeResult {
    return propose(this.#raft, data);
  }

  /**
   * Asks for a linearizable read (§6.4). When leadership is confirmed a ReadState with the same
   * `ctx` appears in a Ready; the read may be served once the state machine applied its index.
   * If leadership is lost first, the read is dropped and Ready.softState says so.
   */
  readIndex(ctx: string): ReadIndexResult {
    return requestReadIndex(this.#raft, ctx);
  }

  /** Thesis §3.10: hands leadership to `to`; proposals are refused while the transfer runs. */
  transferLeadership(to: NodeId): TransferResult {
    return requestTransfer(this.#raft, to);
  }

  /**
   * Proposes one change of configuration (see conf.ts). Like propose(), success means appended;
   * the change took effect on this leader at once and is done when its entry is applied.
   */
  proposeConfChange(change: ConfChange): ConfChangeResult {
    return proposeConfChange(this.#raft, change);
  }

  /** The configuration in effect on this member: the latest in its log, committed or not. */
  conf(): ConfState {
    return this.#raft.conf;
  }

  /** The metadata of a snapshot taken at `index` (applied, not compacted): its term and configuration. */
  snapshotMeta(index: Index): SnapshotMeta {
    const log = this.#raft.log;
    const term = log.term(index);
    invariant(term !== null && index <= log.applied, `no snapshot possible at ${index}`);
    return { index, term, ...log.confAt(index) };
  }

  /** The term of the entry at `index` (the snapshot's at its index), or null if the log no longer or not yet holds it. */
  termAt(index: Index): Term | null {
    return this.#raft.log.term(index);
  }

  /** The application has a snapshot of its state at `index` (<= applied): the log before it goes. */
  compact(index: Index, data: Uint8Array): void {
    this.#raft.log.compact(index, data);
  }

  hasReady(): boolean {
    if (this.#pending !== null) return false;
    const r = this.#raft;
    return (
      r.broadcastPending ||
      r.msgs.length > 0 ||
      r.readStates.length > 0 ||
      r.log.pendingSnapshot !== null ||
      r.log.stable < r.log.lastIndex() ||
      r.log.hasNextCommitted() ||
      !sameHardState(this.#hardState(), this.#prevHardState) ||
      !sameSoftState(this.#softState(), this.#prevSoftState)
    );
  }

  /** Collects what the shell must do now. Not again until advance() took this one back. */
  ready(): Ready {
    invariant(this.#pending === null, 'ready() called again before advance()');
    const r = this.#raft;
    flushBroadcast(r);
    const hardState = this.#hardState();
    const softState = this.#softState();
    const hardChanged = !sameHardState(hardState, this.#prevHardState);
    const entries = r.log.unstableEntries();
    const snapshot = r.log.pendingSnapshot;
    const out = r.takeOutput();
    const rd: Ready = {
      hardState: hardChanged ? hardState : null,
      entries,
      snapshot,
      mustSync:
        entries.length > 0 ||
        snapshot !== null ||
        hardState.term !== this.#prevHardState.term ||
        hardState.vote !== this.#prevHardState.vote,
      messages: out.msgs,
      committed: r.log.nextCommitted(r.config.batchBytesMax),
      readStates: out.readStates,
      softState: sameSoftState(softState, this.#prevSoftState) ? null : softState,
    };
    this.#prevHardState = hardState;
    this.#prevSoftState = softState;
    this.#pending = rd;
    return rd;
  }

  /** The shell has carried out `rd` completely: persisted, sent, installed and applied. */
  advance(rd: Ready): void {
    invariant(this.#pending === rd, 'advance() with a Ready that is not the pending one');
    this.#pending = null;
    const r = this.#raft;
    if (rd.snapshot !== null) r.log.snapshotInstalled(rd.snapshot);
    const lastEntry = rd.entries.at(-1);
    if (lastEntry !== undefined) r.log.stableTo(lastEntry.index, lastEntry.term);
    const lastApplied = rd.committed.at(-1);
    if (lastApplied !== undefined) r.log.appliedTo(lastApplied.index);
    if (lastEntry !== undefined) ownEntriesDurable(r);
  }

  status(): RaftStatus {
    const r = this.#raft;
    return {
      id: r.id,
      role: r.role,
      term: r.term,
      vote: r.vote,
      leader: r.leader,
      commit: r.log.committed,
      applied: r.log.applied,
      lastIndex: r.log.lastIndex(),
      snapshotIndex: r.log.snapshot.meta.index,
      transferee: r.transferee,
      conf: r.conf,
      confIndex: r.log.confIndex(),
    };
  }

  /** Leader only: what it knows of each follower's log; empty on other roles. */
  followers(): FollowerStatus[] {
    const r = this.#raft;
    return [...r.progress].map(([id, pr]) => ({
      id,
      match: pr.match,
      next: pr.next,
      state: pr.state,
      learner: !r.isVoter(id),
    }));
  }

  /** The in-memory log after the snapshot, for status pages and checkers. */
  logView(): { readonly snapshot: SnapshotMeta; readonly entries: readonly Entry[] } {
    return { snapshot: this.#raft.log.snapshot.meta, entries: this.#raft.log.entries() };
  }

  #hardState(): HardState {
    const r = this.#raft;
    return { term: r.term, vote: r.vote, commit: r.log.committed };
  }

  #softState(): SoftState {
    const r = this.#raft;
    return { role: r.role, leader: r.leader, term: r.term };
  }
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

function sameSoftState(a: SoftState, b: SoftState): boolean {
  return a.role === b.role && a.leader === b.leader && a.term === b.term;
}
