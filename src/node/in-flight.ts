/**
 * The node's cap on client requests in flight: writes it proposed and linearizable reads it
 * confirms as a shard leader (forwarded ones too), and requests it relays to another node. A
 * request takes a slot before anything is done and gives it back when it is answered; at the cap
 * it is refused at once (503, nothing done) instead of waiting in a queue that grows with load.
 */

import { unavailable } from './errors.js';

export class InFlightLimit {
  readonly max: number;
  readonly #nodeId: string;
  readonly #onRefused: () => void;
  // Invariant: 0 <= #count <= max.
  #count = 0;

  /** `onRefused` is called for every request refused at the cap (for metrics). */
  constructor(nodeId: string, max: number, onRefused: () => void = () => {}) {
    this.#nodeId = nodeId;
    this.max = max;
    this.#onRefused = onRefused;
  }

  /** Requests holding a slot now. */
  get count(): number {
    return this.#count;
  }

  /**
   * Takes a slot, or throws `unavailable` (503) when all are taken. The returned function gives
   * the slot back; calling it more than once has no further effect.
   */
  acquire(): () => void {
    if (this.#count >= this.max) {
      this.#onRefused();
      throw unavailable(
        `node ${this.#nodeId} is at its limit of ${this.max} requests in flight; nothing was done, retry later`,
      );
    }
    this.#count++;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.#count--;
    };
  }

  /** Runs `work` holding a slot (see acquire()). */
  async run<T>(work: () => Promise<T>): Promise<T> {
    const release = this.acquire();
    try {
      return await work();
    } finally {
      release();
    }
  }
}
