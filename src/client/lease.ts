/**
 * A lease held by the client library (`kv.lease(ttlMs)`): it renews itself every third of its
 * time to live until closed, and says when it is lost (README "Leases and keys that expire").
 */

import { RaftKVError } from './errors.js';

/** What a Lease needs of the client: renew and revoke by id. */
export interface LeaseCalls {
  keepAlive(lease: string, o: { readonly signal: AbortSignal }): Promise<unknown>;
  revokeLease(lease: string): Promise<unknown>;
}

export class Lease {
  /** The lease id, for `put(key, value, { lease: id })`. */
  readonly id: string;
  readonly ttlMs: number;
  /**
   * Settles once the lease is lost: a node said it is gone (expired or revoked: its keys are
   * deleted), or no renewal succeeded for a whole `ttlMs` (it has expired, or will have by the
   * time anything could renew it). Never settles for a lease that is closed first.
   */
  readonly lost: Promise<RaftKVError>;
  readonly #calls: LeaseCalls;
  #timer: NodeJS.Timeout | null = null;
  #closed = false;
  #lostError: RaftKVError | null = null;
  #onLost!: (err: RaftKVError) => void;
  /** When the last renewal that succeeded was sent (Date.now()). */
  #renewedSentAt: number;

  constructor(calls: LeaseCalls, id: string, ttlMs: number, grantedSentAt: number) {
    this.#calls = calls;
    this.id = id;
    this.ttlMs = ttlMs;
    this.#renewedSentAt = grantedSentAt;
    this.lost = new Promise((resolve) => {
      this.#onLost = resolve;
    });
    this.#schedule(this.#period);
  }

  /** True until the lease is lost or closed. */
  get alive(): boolean {
    return !this.#closed && this.#lostError === null;
  }

  get #period(): number {
    return Math.max(100, Math.floor(this.ttlMs / 3));
  }

  #schedule(ms: number): void {
    this.#timer = setTimeout(() => void this.#renew(), ms);
    // A lease nobody closed does not keep the process running.
    this.#timer.unref();
  }

  async #renew(): Promise<void> {
    if (!this.alive) return;
    const sentAt = Date.now();
    // A renewal still unanswered when the time to live runs out is given up: by then the lease
    // may have expired, and it is reported lost rather than revived.
    const leftAtSend = this.#renewedSentAt + this.ttlMs - sentAt;
    try {
      await this.#calls.keepAlive(this.id, { signal: AbortSignal.timeout(Math.max(1, leftAtSend)) });
      if (this.alive) this.#renewedSentAt = Math.max(this.#renewedSentAt, sentAt);
    } catch (err) {
      if (!this.alive) return;
      if (err instanceof RaftKVError && err.code === 'not_found') return this.#lose(err);
    }
    if (!this.alive) return;
    const left = this.#renewedSentAt + this.ttlMs - Date.now();
    if (left <= 0) {
      return this.#lose(
        new RaftKVError('timeout', null, `lease ${this.id} was not renewed for ${this.ttlMs} ms`, false),
      );
    }
    // After a failed renewal, try again sooner, but never let the time left run out between tries.
    this.#schedule(Math.min(this.#period, Math.max(50, Math.floor(left / 3))));
  }

  #lose(err: RaftKVError): void {
    this.#lostError = err;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#onLost(err);
  }

  /**
   * Stops renewing. With `revoke` (the default) the lease is revoked at once and its keys are
   * deleted; without, they are deleted when it expires.
   */
  async close(o: { readonly revoke?: boolean } = {}): Promise<void> {
    if (this.#closed) return;
    const wasAlive = this.alive;
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    if (!wasAlive || o.revoke === false) return;
    try {
      await this.#calls.revokeLease(this.id);
    } catch (err) {
      // Gone already: expired or revoked by someone else, which is what close asked for.
      if (!(err instanceof RaftKVError && err.code === 'not_found')) throw err;
    }
  }
}
