/**
 * Session lanes for exactly-once writes. Every write runs in a lane: a client id with its own
 * sequence numbers and at most one write in flight, so a retry always repeats the lane's newest
 * sequence number, which the nodes' session table is sure to remember. Lanes are reused, so a
 * client creates about as many sessions as it has writes in flight at once.
 */

export interface Lane {
  readonly client: string;
  seq: number;
}

export class Lanes {
  readonly #base: string;
  readonly #free: Lane[] = [];
  #created = 0;

  constructor(base: string) {
    this.#base = base;
  }

  acquire(): Lane {
    const lane = this.#free.pop() ?? { client: `${this.#base}.${this.#created++}`, seq: 0 };
    lane.seq++;
    return lane;
  }

  release(lane: Lane): void {
    this.#free.push(lane);
  }
}
