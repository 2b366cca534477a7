/**
 * Clients waiting on a group: proposals wait for their log index to be applied, reads for their
 * ReadIndex round and then for the state machine to reach the read index. Every wait has a
 * deadline; the table is bounded by what the core accepts (uncommitted entries, pending reads).
 */

import type { Index, Term } from '../raft/types.js';
import { outcomeUnknown, unavailable } from './errors.js';

interface Waiter<T> {
  readonly resolve: (value: T) => void;
  readonly reject: (err: Error) => void;
  readonly deadlineMs: number;
}

interface ProposalWaiter<T> extends Waiter<T | null> {
  readonly term: Term;
  /** A configuration change: its entry carries no command, and applying it is the answer. */
  readonly config: boolean;
}

interface ReadWaiter extends Waiter<Index> {
  /** Set once leadership is confirmed: the index the state machine must reach. */
  index: Index | null;
}

export class Waiters<R> {
  readonly #proposals = new Map<Index, ProposalWaiter<R>>();
  readonly #reads = new Map<string, ReadWaiter>();
  /** Set by failAll(): why no wait can end well any more; later waits fail at once. */
  #closedWhy: string | null = null;

  /**
   * Waits for the entry proposed at (index, term). A waiter already at that index lost its entry
   * (the log was cut back there, so it can never commit): it fails as not applied.
   */
  waitProposal(index: Index, term: Term, deadlineMs: number): Promise<R> {
    return this.#wait(index, term, deadlineMs, false) as Promise<R>;
  }

  /** Waits for the configuration change proposed at (index, term) to be applied. */
  async waitConfig(index: Index, term: Term, deadlineMs: number): Promise<void> {
    await this.#wait(index, term, deadlineMs, true);
  }

  #wait(index: Index, term: Term, deadlineMs: number, config: boolean): Promise<R | null> {
    if (this.#closedWhy !== null) return Promise.reject(proposalFailed(this.#closedWhy));
    this.#proposals
      .get(index)
      ?.reject(unavailable('leadership changed before the write committed; nothing was written'));
    return new Promise((resolve, reject) =>
      this.#proposals.set(index, { resolve, reject, term, deadlineMs, config }),
    );
  }

  waitRead(ctx: string, deadlineMs: number): Promise<Index> {
    if (this.#closedWhy !== null) return Promise.reject(readFailed(this.#closedWhy));
    return new Promise((resolve, reject) =>
      this.#reads.set(ctx, { resolve, reject, deadlineMs, index: null }),
    );
  }

  /**
   * The entry at (index, term) was applied with `result` (null for an entry that carried no
   * command); a waiter of another term lost its entry, which can then never commit.
   */
  applied(index: Index, term: Term, result: R | null): void {
    const w = this.#proposals.get(index);
    if (w === undefined) return;
    this.#proposals.delete(index);
    if (w.term === term && (result !== null || w.config)) w.resolve(result);
    else w.reject(unavailable('leadership changed before the write committed; nothing was written'));
  }

  /** A snapshot replaced the log up to `index`: what was proposed there has an unknown outcome. */
  coveredBySnapshot(index: Index): void {
    for (const [i, w] of this.#proposals) {
      if (i > index) continue;
      this.#proposals.delete(i);
      w.reject(outcomeUnknown('the write was overtaken by a snapshot; its outcome is unknown'));
    }
  }

  /** Leadership for read `ctx` is confirmed at `index`; serve once applied >= index. */
  readConfirmed(ctx: string, index: Index, applied: Index): void {
    const w = this.#reads.get(ctx);
    if (w === undefined) return;
    w.index = index;
    if (applied >= index) {
      this.#reads.delete(ctx);
      w.resolve(index);
    }
  }

  /** The state machine reached `applied`: serve the reads that waited for it. */
  appliedTo(applied: Index): void {
    for (const [ctx, w] of this.#reads) {
      if (w.index !== null && w.index <= applied) {
        this.#reads.delete(ctx);
        w.resolve(w.index);
      }
    }
  }

  /**
   * Leadership was lost: unconfirmed reads will never be confirmed here, and fail with `why()`
   * (by default `unavailable`). A read changed nothing, so the caller may pass an error that has
   * it routed to the new leader instead.
   */
  failUnconfirmedReads(
    why: () => Error = () => unavailable('leadership changed before the read was confirmed'),
  ): void {
    for (const [ctx, w] of this.#reads) {
      if (w.index !== null) continue;
      this.#reads.delete(ctx);
      w.reject(why());
    }
  }

  /** Fails every wait past its deadline. */
  expire(nowMs: number): void {
    this.#fail(
      nowMs,
      () => proposalFailed('not applied in time'),
      () => unavailable('no quorum confirmed the read in time'),
    );
  }

  /**
   * The node is stopping: every waiter fails, a write as outcome unknown (504), a read as
   * unavailable (503), and so does every wait begun later (nothing will expire it: the ticks
   * have stopped). `why` says why the node could not finish them, if not that it stops.
   */
  failAll(why = 'the node is stopping'): void {
    this.#closedWhy = why;
    this.#fail(
      Number.POSITIVE_INFINITY,
      () => proposalFailed(why),
      () => readFailed(why),
    );
  }

  #fail(nowMs: number, proposalError: () => Error, readError: () => Error): void {
    for (const [i, w] of this.#proposals) {
      if (w.deadlineMs > nowMs) continue;
      this.#proposals.delete(i);
      w.reject(proposalError());
    }
    for (const [ctx, w] of this.#reads) {
      if (w.deadlineMs > nowMs) continue;
      this.#reads.delete(ctx);
      w.reject(readError());
    }
  }

  get size(): number {
    return this.#proposals.size + this.#reads.size;
  }
}

function proposalFailed(why: string) {
  return outcomeUnknown(`proposed, but ${why}; the write may or may not take effect`);
}

function readFailed(why: string) {
  return unavailable(`${why}; the read was not served`);
}
