/**
 * The calls a link made that wait for their answers: each settles once, by its answer, by its
 * deadline (checked every `sweepMs` while any waits), or when the link fails it.
 */

import type { StreamAnswer } from './wire.js';

/** A call that never left this node: there was no open stream to the peer. Nothing was done. */
export class CallNotSentError extends Error {}
/** A call that left but got no answer (the stream closed, or the deadline passed): outcome unknown. */
export class CallLostError extends Error {}
/** The peer got the call and could not handle it. */
export class CallFailedError extends Error {}

/** How often calls waiting for an answer are checked against their deadlines. */
const sweepMs = 100;

interface Pending {
  readonly deadline: number;
  readonly resolve: (payload: Uint8Array) => void;
  readonly reject: (err: Error) => void;
}

export class PendingCalls {
  readonly #peer: string;
  readonly #pending = new Map<number, Pending>();
  #next = 1;
  #sweep: NodeJS.Timeout | null = null;

  constructor(peer: string) {
    this.#peer = peer;
  }

  get size(): number {
    return this.#pending.size;
  }

  /** A new call's id, and the promise of its answer. */
  add(timeoutMs: number): { readonly id: number; readonly answer: Promise<Uint8Array> } {
    const id = this.#next++;
    const answer = new Promise<Uint8Array>((resolve, reject) => {
      this.#pending.set(id, { deadline: Date.now() + timeoutMs, resolve, reject });
    });
    this.#sweep ??= setInterval(() => this.#expire(), sweepMs);
    return { id, answer };
  }

  settle(answers: readonly StreamAnswer[]): void {
    for (const a of answers) {
      if (a.payload !== null) this.#take(a.id)?.resolve(a.payload);
      else this.#take(a.id)?.reject(new CallFailedError(a.error ?? 'the peer could not handle the call'));
    }
  }

  /** Fails the calls `ids` (with `err` of each id). */
  fail(ids: Iterable<number>, err: (id: number) => Error): void {
    for (const id of ids) this.#take(id)?.reject(err(id));
  }

  /** Fails every call still waiting: it left, and its answer will not come. */
  lose(): void {
    this.fail([...this.#pending.keys()], () => new CallLostError(`the stream to ${this.#peer} closed`));
  }

  #take(id: number): Pending | undefined {
    const p = this.#pending.get(id);
    this.#pending.delete(id);
    if (this.#pending.size === 0 && this.#sweep !== null) {
      clearInterval(this.#sweep);
      this.#sweep = null;
    }
    return p;
  }

  #expire(): void {
    const now = Date.now();
    const late = [...this.#pending].filter(([, p]) => p.deadline <= now).map(([id]) => id);
    this.fail(late, () => new CallLostError(`no answer from ${this.#peer} in time`));
  }
}
