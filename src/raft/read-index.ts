/**
 * Pending ReadIndex reads of a leader (thesis §6.4). Reads wait in a queue; one round at a time
 * takes the whole queue, fixes its read index at the current commit index and is confirmed when
 * a majority answers a heartbeat that carries the round's number. So any number of concurrent
 * reads share one heartbeat round, and every read's round starts after the read arrived.
 */

import { quorumSize } from './quorum.js';
import type { Index, NodeId, ReadState } from './types.js';

interface Round {
  readonly seq: number;
  readonly index: Index;
  readonly ctxs: readonly string[];
  readonly acks: Set<NodeId>;
}

export class ReadIndexRounds {
  #queue: string[] = [];
  #inflight: Round | null = null;
  /** Round numbers only grow, so an answer to an old round can never confirm a new one. */
  #seq = 0;

  /** Reads waiting, queued or in the round in flight. */
  size(): number {
    return this.#queue.length + (this.#inflight?.ctxs.length ?? 0);
  }

  enqueue(ctx: string): void {
    this.#queue.push(ctx);
  }

  /** The number heartbeats should carry: the round in flight, or 0 when there is none. */
  inflightSeq(): number {
    return this.#inflight?.seq ?? 0;
  }

  canStartRound(): boolean {
    return this.#inflight === null && this.#queue.length > 0;
  }

  /**
   * Takes every queued read into a new round at read index `index`; the leader has acked it,
   * unless it is no longer a voter (`self` null) and only the voters' answers count.
   */
  startRound(index: Index, self: NodeId | null): void {
    this.#seq++;
    this.#inflight = { seq: this.#seq, index, ctxs: this.#queue, acks: new Set(self === null ? [] : [self]) };
    this.#queue = [];
  }

  /** Serves every queued read at `index` without a round: a group of one needs no confirmation. */
  drainWithoutRound(index: Index): ReadState[] {
    const states = this.#queue.map((ctx) => ({ ctx, index }));
    this.#queue = [];
    return states;
  }

  /**
   * Records voter `from`'s answer to round `seq`; returns the round's reads once a majority of the
   * `voterCount` voters confirmed it. Only voters' answers may be passed in.
   */
  ack(from: NodeId, seq: number, voterCount: number): ReadState[] {
    const round = this.#inflight;
    if (round === null || round.seq !== seq) return [];
    round.acks.add(from);
    if (round.acks.size < quorumSize(voterCount)) return [];
    this.#inflight = null;
    return round.ctxs.map((ctx) => ({ ctx, index: round.index }));
  }

  /** Leadership is lost: every pending read is dropped; the shell fails them on the role change. */
  reset(): void {
    this.#queue = [];
    this.#inflight = null;
  }
}
